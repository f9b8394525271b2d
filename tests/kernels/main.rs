//! The kernels compiled as C++ and run on the CPU (`kernels/cpu_shim.h`) against the native CPU stages, and
//! the property tests of the geometry and the kernels, in one test binary (each module is what was one
//! `tests/*.rs` file: `cargo test --test kernels kernels_cpu_shim::`).

#[path = "../common/shim.rs"]
mod shim;

mod kernels_cpu_shim;
mod properties;
