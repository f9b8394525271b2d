//! Where a [`Pipeline`](crate::Pipeline) runs: [`Device`] (what the builder asks for) and [`DeviceInfo`]
//! (what it got, and why).
//!
//! # How `Device::Auto` decides
//!
//! The CUDA path is used when every one of these probes succeeds, in this order; the first that fails
//! settles on the CPU, and [`DeviceInfo::reason`] lists every probe with its outcome:
//!
//! 1. **driver**: `libcuda` loads (`cudarc::driver::sys::is_culib_present`, checked *before* cudarc is
//!    asked for anything, since cudarc panics when the library is missing), `cuInit` succeeds and reports the
//!    driver's CUDA version (`cuDriverGetVersion`);
//! 2. **GPU**: the ordinal exists and a context can be created on it (name, compute capability);
//! 3. **NVRTC**: the library is found (see [`crate::cuda::nvrtc`]) and compiles every kernel to CUBIN for the
//!    GPU's architecture, and the driver loads those modules;
//! 4. **ONNX Runtime CUDA provider**: `libonnxruntime_providers_cuda.so` is found (see
//!    `src/cuda/provider.rs`) and every model's session registers the CUDA execution provider with
//!    `error_on_failure` (so a missing cuDNN or cuBLAS is a failed probe, not a silent CPU fallback).
//!
//! [`Device::Cuda`] runs the same probes and returns [`Error::Cuda`](crate::Error::Cuda) with the same list
//! when one fails; [`Device::Cpu`] runs none. Without the crate's `cuda` feature, `Auto` picks the CPU and
//! `Cuda(n)` is an error.
//!
//! # Example: check where the pipeline runs
//! ```no_run
//! use clo_pipeline::{Device, Pipeline};
//! let pipeline = Pipeline::builder("onnx_model_repository").device(Device::Auto).build()?;
//! let info = pipeline.device();
//! println!("running on {} ({})", info.device, info.reason);
//! # Ok::<(), clo_pipeline::Error>(())
//! ```

use std::fmt;
use std::path::PathBuf;

/// The device a pipeline is asked to run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Device {
    /// CUDA when a driver, a GPU, NVRTC and ONNX Runtime's CUDA provider are all usable, else the CPU.
    #[default]
    Auto,
    /// The CPU (rayon stages, ONNX Runtime's CPU provider).
    Cpu,
    /// The CUDA GPU with this ordinal; building fails with [`Error::Cuda`](crate::Error::Cuda) when it is not
    /// usable.
    Cuda(usize),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Auto => f.write_str("auto"),
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl Device {
    /// Whether this build of the crate has the CUDA path (the `cuda` feature).
    pub const fn cuda_compiled() -> bool {
        cfg!(feature = "cuda")
    }
}

/// What a pipeline runs on, and why (see the [module docs](self) for the probes).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DeviceInfo {
    /// What the builder asked for.
    pub requested: Device,
    /// What the pipeline runs on: [`Device::Cpu`] or [`Device::Cuda`], never `Auto`.
    pub device: Device,
    /// Why: each probe and its outcome, one per line (or why no probe ran).
    pub reason: String,
    /// The GPU's name, when a GPU was found.
    pub name: Option<String>,
    /// The GPU's compute capability `(major, minor)`.
    pub compute_capability: Option<(i32, i32)>,
    /// The driver's CUDA version `(major, minor)` (`cuDriverGetVersion`).
    pub driver_version: Option<(i32, i32)>,
    /// NVRTC's version `(major, minor)`.
    pub nvrtc_version: Option<(i32, i32)>,
    /// The ONNX Runtime CUDA provider library, when found.
    pub ort_cuda_provider: Option<PathBuf>,
}

impl DeviceInfo {
    /// A CPU pipeline, with the reason.
    pub(crate) fn cpu(requested: Device, reason: impl Into<String>) -> DeviceInfo {
        DeviceInfo {
            requested,
            device: Device::Cpu,
            reason: reason.into(),
            name: None,
            compute_capability: None,
            driver_version: None,
            nvrtc_version: None,
            ort_cuda_provider: None,
        }
    }

    /// Whether the pipeline runs on a CUDA GPU.
    pub fn is_cuda(&self) -> bool {
        matches!(self.device, Device::Cuda(_))
    }
}

/// What the CUDA path has done so far (see [`Pipeline::cuda_stats`](crate::Pipeline::cuda_stats)): copies
/// between host and device, counted where this crate issues them, and device allocations.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct CudaStats {
    /// Frames run on the GPU.
    pub frames: u64,
    /// Host → device copies (one per frame: the u8 frame).
    pub uploads: u64,
    /// Bytes uploaded.
    pub upload_bytes: u64,
    /// GPU time of those uploads (CUDA events around each copy), in seconds: `upload_bytes / upload_seconds`
    /// is the bandwidth achieved.
    pub upload_seconds: f64,
    /// Device → host copies (detections and oil per frame, plus the crop when it is returned).
    pub downloads: u64,
    /// Bytes downloaded.
    pub download_bytes: u64,
    /// Copies between host and device issued between two stages of a frame: always 0 by design; counted so
    /// that tests can say so.
    pub between_stage_copies: u64,
    /// Device and pinned-host allocations (each worker allocates its buffers once; a larger frame grows the
    /// frame buffers once).
    pub device_allocations: u64,
    /// Device addresses of each idle worker's buffers (frame, letterbox, crop, crop box, best row,
    /// detections): equal from frame to frame when buffers are reused.
    pub idle_worker_buffers: Vec<Vec<u64>>,
}

/// Where the GPU libraries are (builder options; each `None` means "search", see the builder's `nvrtc_path` and `ort_cuda_path`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct GpuLibraries {
    /// `libnvrtc.so.13` or its folder.
    pub(crate) nvrtc: Option<PathBuf>,
    /// `libonnxruntime_providers_cuda.so` or its folder.
    pub(crate) ort_cuda: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_devices() {
        assert_eq!(Device::Auto.to_string(), "auto");
        assert_eq!(Device::Cpu.to_string(), "cpu");
        assert_eq!(Device::Cuda(1).to_string(), "cuda:1");
        assert_eq!(Device::default(), Device::Auto);
    }

    #[test]
    fn cpu_info_is_not_cuda() {
        let i = DeviceInfo::cpu(Device::Auto, "why");
        assert!(!i.is_cuda());
        assert_eq!(i.device, Device::Cpu);
        assert_eq!(i.reason, "why");
    }
}
