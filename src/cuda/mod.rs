//! The CUDA side of the native stages: the kernel sources (`kernels/*.cu`) and NVRTC, which compiles them
//! to CUBIN for the device's architecture at run time.
//!
//! Nothing here needs a GPU or a CUDA toolkit at build time: NVRTC is loaded on first use (see
//! [`nvrtc`]), and the kernels are plain CUDA C++ that also compiles as C++ on the CPU (`kernels/cpu_shim.h`).

pub mod driver;
pub mod kernels;
pub mod nvrtc;
pub mod provider;
pub(crate) mod worker;

/// A driver call's error, with what was being done.
pub(crate) fn driver_error(what: impl std::fmt::Display, e: cudarc::driver::DriverError) -> crate::Error {
    crate::Error::cuda_from(crate::CudaErrorKind::Driver, what.to_string(), e)
}
