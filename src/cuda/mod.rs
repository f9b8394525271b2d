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
