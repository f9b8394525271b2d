//! The CUDA path's toolchain (feature `cuda`): the kernel registry ([`kernels`]: every `kernels/*.cu` file
//! with its entry points and headers) and NVRTC ([`nvrtc`]: finding it, compiling a kernel to CUBIN), and
//! [`driver_present`].
//!
//! These are public so that a machine's CUDA toolchain can be checked without building a pipeline:
//! `tests/kernels_nvrtc.rs` and `scripts/gpu-check` compile every registered kernel with the NVRTC this crate
//! would load. Everything else of the CUDA path is internal: probing the driver and the GPU, finding ONNX
//! Runtime's CUDA provider, the loaded kernels and their typed launch functions (`stages/<stage>/cuda.rs`),
//! and the per-worker device-resident frame run (`worker.rs`); [`Pipeline`](crate::Pipeline) uses them when
//! [`Device`](crate::Device) settles on CUDA, and reports what it found in [`DeviceInfo`](crate::DeviceInfo).
//!
//! Nothing here needs a GPU or a CUDA toolkit at build time: NVRTC is loaded on first use (see
//! [`nvrtc`]), and the kernels are plain CUDA C++ that also compiles as C++ on the CPU (`kernels/cpu_shim.h`).

pub(crate) mod driver;
pub mod kernels;
pub mod nvrtc;
pub(crate) mod provider;
pub(crate) mod worker;

pub use self::driver::driver_present;

/// A driver call's error, with what was being done.
pub(crate) fn driver_error(what: impl std::fmt::Display, e: cudarc::driver::DriverError) -> crate::Error {
    crate::Error::cuda_from(crate::CudaErrorKind::Driver, what.to_string(), e)
}
