//! The registry of CUDA kernel modules: every `kernels/*.cu` file, embedded with `include_str!`.
//!
//! One [`KernelSource`] per `.cu` file (one NVRTC program, one CUDA module). Shared device code lives in
//! `.cuh` headers that the `.cu` files `#include "…"`; a module lists the headers it needs in
//! [`KernelSource::headers`] and [`nvrtc::compile_cubin`](super::nvrtc::compile_cubin) hands them to NVRTC as
//! named in-memory headers (`nvrtcCreateProgram`'s `headers` / `includeNames`), so the sources stay
//! ordinary files that `nvcc` or `g++` (through `kernels/cpu_shim.h`) compile unchanged.
//!
//! `tests/kernels_registry.rs` checks that every `.cu` file is registered and every entry point exists.

/// A header that kernel sources `#include "name"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelHeader {
    /// The name the sources include it by (`geometry.cuh`).
    pub name: &'static str,
    /// Its text.
    pub source: &'static str,
}

/// One kernel module: a `.cu` file compiled as one NVRTC program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSource {
    /// Short name of the module (`letterbox`).
    pub name: &'static str,
    /// The file under `kernels/` (`letterbox.cu`); also the program name in NVRTC's messages.
    pub file: &'static str,
    /// The file's text.
    pub source: &'static str,
    /// The `extern "C" __global__` functions it defines, by their unmangled names.
    pub entry_points: &'static [&'static str],
    /// The headers it includes, directly or through another header.
    pub headers: &'static [KernelHeader],
}

/// `kernels/geometry.cuh`: the device math of `docs/geometry.md` (bilinear sample, source coordinates,
/// letterbox-to-original mapping, candidate rule).
pub const GEOMETRY_CUH: KernelHeader =
    KernelHeader { name: "geometry.cuh", source: include_str!("../../kernels/geometry.cuh") };

/// `kernels/letterbox.cu`: `letterbox_u8_to_f32_nchw`, the fused resize + pad + scale of the letterbox.
pub const LETTERBOX: KernelSource = KernelSource {
    name: "letterbox",
    file: "letterbox.cu",
    source: include_str!("../../kernels/letterbox.cu"),
    entry_points: &["letterbox_u8_to_f32_nchw"],
    headers: &[GEOMETRY_CUH],
};

/// `kernels/resize.cu`: `resize_u8_to_f32_nchw`, the half-pixel bilinear resize (Model mode's 3840 × 2160
/// input tensor).
pub const RESIZE: KernelSource = KernelSource {
    name: "resize",
    file: "resize.cu",
    source: include_str!("../../kernels/resize.cu"),
    entry_points: &["resize_u8_to_f32_nchw"],
    headers: &[GEOMETRY_CUH],
};

/// `kernels/select.cu`: `best_box`, the device-side best-detection choice and crop box (one block of 256
/// threads).
pub const SELECT: KernelSource = KernelSource {
    name: "select",
    file: "select.cu",
    source: include_str!("../../kernels/select.cu"),
    entry_points: &["best_box"],
    headers: &[GEOMETRY_CUH],
};

/// `kernels/crop.cu`: `crop_resize_u8_to_f32_nchw`, the crop of the best box, reading the box from device
/// memory.
pub const CROP: KernelSource = KernelSource {
    name: "crop",
    file: "crop.cu",
    source: include_str!("../../kernels/crop.cu"),
    entry_points: &["crop_resize_u8_to_f32_nchw"],
    headers: &[GEOMETRY_CUH],
};

/// Every kernel module, one per `kernels/*.cu` file.
pub const KERNELS: &[KernelSource] = &[LETTERBOX, RESIZE, SELECT, CROP];

/// Block size `best_box` is written for (`CLO_SELECT_THREADS` in `kernels/select.cu`): launch it as one
/// block of this many threads.
pub const SELECT_THREADS: u32 = 256;

/// The registered module with this [`KernelSource::name`].
pub fn kernel(name: &str) -> Option<&'static KernelSource> {
    KERNELS.iter().find(|k| k.name == name)
}
