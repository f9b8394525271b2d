//! Probing the CUDA driver and a GPU without ever letting cudarc panic.
//!
//! cudarc (with `dynamic-loading`) `dlopen`s `libcuda` on first use and panics when it cannot. So
//! the probe first asks `cudarc::driver::sys::is_culib_present()` (which only tries to load the library),
//! and touches the driver API only when that says yes. Every later step returns a `Result`.

use std::sync::Arc;

use cudarc::driver::{CudaContext, DriverError, result as driver_result, sys};

use crate::{CudaErrorKind, Error};

/// What the driver and the GPU said.
#[derive(Debug, Clone)]
pub(crate) struct GpuFound {
    /// The context on the GPU (the device's primary context, shared with ONNX Runtime's CUDA provider).
    pub context: Arc<CudaContext>,
    /// The GPU's name.
    pub name: String,
    /// Compute capability `(major, minor)`.
    pub compute_capability: (i32, i32),
    /// The driver's CUDA version `(major, minor)`.
    pub driver_version: (i32, i32),
}

impl GpuFound {
    /// The real architecture number NVRTC compiles CUBIN for: `90` for compute capability 9.0.
    pub(crate) fn arch(&self) -> u32 {
        let (major, minor) = self.compute_capability;
        (major.max(0) as u32) * 10 + minor.max(0) as u32
    }
}

/// Whether `libcuda` can be loaded at all (the NVIDIA driver is installed). Never panics.
pub fn driver_present() -> bool {
    // SAFETY: `is_culib_present` only tries `libloading::Library::new` on the driver's candidate names and
    // drops what it loads; it runs no driver code and touches no global state of cudarc.
    unsafe { sys::is_culib_present() }
}

/// The driver's CUDA version as `(major, minor)` (12040 → (12, 4)). Call only after [`driver_present`].
fn driver_version() -> Result<(i32, i32), DriverError> {
    let mut v: std::ffi::c_int = 0;
    // SAFETY: `driver_present()` returned true, so cudarc's lazy library handle loads without panicking;
    // `v` is a valid out-pointer for the duration of the call.
    unsafe { sys::cuDriverGetVersion(&mut v) }.result()?;
    Ok((v / 1000, (v % 1000) / 10))
}

/// Probes the driver and GPU `ordinal`: each step's outcome goes to `log` (one line each); returns the GPU
/// when every step succeeded, else the failure (cudarc's error as its source).
pub(crate) fn probe(ordinal: usize, log: &mut Vec<String>) -> crate::Result<GpuFound> {
    // Logs `line` and returns the error.
    let fail = |log: &mut Vec<String>, line: String, e: Error| {
        log.push(line);
        Err(e)
    };
    if !driver_present() {
        let m = "libcuda (the NVIDIA driver's library) could not be loaded: no NVIDIA driver on this machine";
        return fail(log, format!("driver: {m}"), Error::cuda(CudaErrorKind::DriverNotFound, m));
    }
    if let Err(e) = driver_result::init() {
        let line = format!("driver: libcuda loaded but cuInit failed: {e:?}");
        return fail(log, line, Error::cuda_from(CudaErrorKind::Driver, "libcuda loaded but cuInit failed", e));
    }
    let driver_version = match driver_version() {
        Ok(v) => v,
        Err(e) => {
            let line = format!("driver: cuDriverGetVersion failed: {e:?}");
            return fail(log, line, Error::cuda_from(CudaErrorKind::Driver, "cuDriverGetVersion failed", e));
        }
    };
    log.push(format!("driver: ok, CUDA {}.{}", driver_version.0, driver_version.1));
    let count = match CudaContext::device_count() {
        Ok(n) => n.max(0) as usize,
        Err(e) => {
            let line = format!("GPU: cuDeviceGetCount failed: {e:?}");
            return fail(log, line, Error::cuda_from(CudaErrorKind::Driver, "cuDeviceGetCount failed", e));
        }
    };
    if ordinal >= count {
        let m = format!("no GPU with ordinal {ordinal} ({count} GPU(s) visible)");
        return fail(log, format!("GPU: {m}"), Error::cuda(CudaErrorKind::NoGpu, m));
    }
    let context = match CudaContext::new(ordinal) {
        Ok(c) => c,
        Err(e) => {
            let line = format!("GPU {ordinal}: creating a context failed: {e:?}");
            let m = format!("GPU {ordinal}: creating a context failed");
            return fail(log, line, Error::cuda_from(CudaErrorKind::Driver, m, e));
        }
    };
    let name = context.name().unwrap_or_else(|e| format!("(name unavailable: {e:?})"));
    let compute_capability = match context.compute_capability() {
        Ok(cc) => cc,
        Err(e) => {
            let line = format!("GPU {ordinal} ({name}): compute capability unavailable: {e:?}");
            let m = format!("GPU {ordinal} ({name}): compute capability unavailable");
            return fail(log, line, Error::cuda_from(CudaErrorKind::Driver, m, e));
        }
    };
    log.push(format!(
        "GPU {ordinal}: ok, {name}, compute capability {}.{}",
        compute_capability.0, compute_capability.1
    ));
    Ok(GpuFound { context, name, compute_capability, driver_version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_without_driver_says_so_and_never_panics() {
        let mut log = Vec::new();
        let found = probe(0, &mut log);
        if driver_present() {
            eprintln!("a CUDA driver is present; probe gave {log:?}");
            return;
        }
        assert!(found.is_err());
        assert!(log.iter().any(|l| l.contains("libcuda")), "{log:?}");
    }
}
