//! The registry of CUDA kernel modules: every `kernels/*.cu` file, embedded with `include_str!`.
//!
//! One [`KernelSource`] per `.cu` file (one NVRTC program, one CUDA module). Shared device code lives in
//! `.cuh` headers that the `.cu` files `#include "…"`; a module lists the headers it needs in
//! [`KernelSource::headers`] and [`nvrtc::compile_cubin`] hands them to NVRTC as
//! named in-memory headers (`nvrtcCreateProgram`'s `headers` / `includeNames`), so the sources stay
//! ordinary files that `nvcc` or `g++` (through `kernels/cpu_shim.h`) compile unchanged.
//!
//! `Kernels` is the set compiled for the GPU present and loaded into its context. Each kernel is launched
//! through one small typed function in its stage's `cuda.rs` (`stages/letterbox/cuda.rs`, `resize/cuda.rs`,
//! `select/cuda.rs`, `crop/cuda.rs`), which takes `DeviceBuffer`s and a `DeviceFrame`, checks that they
//! cover every element its kernel touches, and owns the one `unsafe` launch.
//!
//! The tests below check that every `kernels/*.cu` file is registered, that every entry point it registers is
//! defined, and that every header it includes is handed to NVRTC.

use std::marker::PhantomData;

use cudarc::driver::{CudaFunction, LaunchConfig};
use cudarc::nvrtc::Ptx;

use super::driver::GpuFound;
use super::{driver_error, nvrtc};
use crate::{CudaErrorKind, Error, Result};

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
pub(crate) const SELECT_THREADS: u32 = 256;

/// The registered module with this [`KernelSource::name`].
pub fn kernel(name: &str) -> Option<&'static KernelSource> {
    KERNELS.iter().find(|k| k.name == name)
}

/// The registered kernels, compiled for the GPU present and loaded into its context.
#[derive(Debug, Clone)]
pub(crate) struct Kernels {
    /// `letterbox_u8_to_f32_nchw` ([`LETTERBOX`]).
    pub(crate) letterbox: CudaFunction,
    /// `resize_u8_to_f32_nchw` ([`RESIZE`]).
    pub(crate) resize: CudaFunction,
    /// `best_box` ([`SELECT`]).
    pub(crate) best_box: CudaFunction,
    /// `crop_resize_u8_to_f32_nchw` ([`CROP`]).
    pub(crate) crop: CudaFunction,
}

fn load_one(gpu: &GpuFound, nvrtc_version: (i32, i32), k: &KernelSource) -> Result<CudaFunction> {
    let arch = gpu.arch();
    let cubin = nvrtc::compile_cubin(k, arch).map_err(|e| match e {
        Error::KernelCompile { kernel, log } => Error::KernelCompile {
            kernel,
            log: format!(
                "{log}\n(NVRTC {}.{} compiling CUBIN for sm_{arch}, the architecture of {}; an NVRTC older than the \
                 GPU does not know its architecture)",
                nvrtc_version.0, nvrtc_version.1, gpu.name
            ),
        },
        other => other,
    })?;
    let module = gpu.context.load_module(Ptx::from_binary(cubin)).map_err(|e| {
        let message = format!(
            "the driver (CUDA {}.{}) could not load `{}` compiled to CUBIN sm_{arch} by NVRTC {}.{}; an NVRTC newer \
             than the driver can emit code the driver rejects: use an NVRTC no newer than CUDA {}.{} \
             (e.g. `pip install nvidia-cuda-nvrtc==13.0.88` for a CUDA 13.0 driver)",
            gpu.driver_version.0,
            gpu.driver_version.1,
            k.file,
            nvrtc_version.0,
            nvrtc_version.1,
            gpu.driver_version.0,
            gpu.driver_version.1
        );
        Error::cuda_from(CudaErrorKind::ModuleLoad, message, e)
    })?;
    let entry = k.entry_points.first().copied().unwrap_or_default();
    module.load_function(entry).map_err(|e| driver_error(format!("loading `{entry}` from `{}`", k.file), e))
}

impl Kernels {
    /// Compiles every registered kernel to CUBIN for `gpu` (once per process per architecture) and loads it.
    pub(crate) fn load(gpu: &GpuFound, nvrtc_version: (i32, i32)) -> Result<Kernels> {
        Ok(Kernels {
            letterbox: load_one(gpu, nvrtc_version, &LETTERBOX)?,
            resize: load_one(gpu, nvrtc_version, &RESIZE)?,
            best_box: load_one(gpu, nvrtc_version, &SELECT)?,
            crop: load_one(gpu, nvrtc_version, &CROP)?,
        })
    }
}

/// Side of the square thread blocks of the 2-D kernels (letterbox, resize, crop).
const BLOCK_SIDE: u32 = 16;

/// The launch of a 2-D kernel over `x × y` outputs, one thread each, in [`BLOCK_SIDE`]² blocks (the kernels
/// return for the threads of the last blocks that fall outside).
pub(crate) fn grid_2d(x: u32, y: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (x.div_ceil(BLOCK_SIDE), y.div_ceil(BLOCK_SIDE), 1),
        block_dim: (BLOCK_SIDE, BLOCK_SIDE, 1),
        shared_mem_bytes: 0,
    }
}

/// `v` as a kernel's `int` argument.
pub(crate) fn int(v: u32, what: &str) -> Result<i32> {
    i32::try_from(v).map_err(|_| {
        Error::cuda(CudaErrorKind::BufferSize, format!("{what} ({v}) does not fit a kernel's int argument"))
    })
}

/// `3 × w × h`: the elements of an RGB8 frame or an f32 NCHW tensor of that size (an error when it does not
/// fit `usize`).
pub(crate) fn rgb_len(w: u32, h: u32) -> Result<usize> {
    (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(3))
        .ok_or_else(|| Error::cuda(CudaErrorKind::BufferSize, format!("3 x {w} x {h} elements do not fit in memory")))
}

/// A device buffer of `len` elements of `T`, borrowed for `'a`: what the typed launch functions take instead
/// of bare device addresses, so that each can check that its kernel stays inside the buffers it is given.
#[derive(Debug)]
pub(crate) struct DeviceBuffer<'a, T> {
    ptr: u64,
    len: usize,
    _borrow: PhantomData<&'a T>,
}

impl<T> Clone for DeviceBuffer<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for DeviceBuffer<'_, T> {}

impl<'a, T> DeviceBuffer<'a, T> {
    /// A view of the device allocation at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be the address of a device allocation on the context the kernels are loaded into, holding at
    /// least `len` elements of `T`, that stays allocated for `'a` and is freed only in the order of the stream
    /// the kernels run on (after the launches that use it).
    pub(crate) unsafe fn from_raw(ptr: u64, len: usize) -> Self {
        DeviceBuffer { ptr, len, _borrow: PhantomData }
    }

    /// The device address.
    pub(crate) fn ptr(&self) -> u64 {
        self.ptr
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `Ok` when the buffer holds at least `n` elements, else an error naming it.
    pub(crate) fn require(&self, n: usize, what: &str) -> Result<()> {
        if self.len < n {
            return Err(Error::cuda(
                CudaErrorKind::BufferSize,
                format!("{what}: a device buffer of {} elements, the kernel needs {n}", self.len),
            ));
        }
        Ok(())
    }
}

/// A `w × h` RGB8 frame on the device, tightly packed (`h` rows of `3 w` bytes), as the kernels read it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DeviceFrame<'a> {
    pub(crate) buf: DeviceBuffer<'a, u8>,
    pub(crate) w: i32,
    pub(crate) h: i32,
    /// Bytes per row: `3 w`.
    pub(crate) pitch: i32,
}

impl<'a> DeviceFrame<'a> {
    /// The frame in `buf`, after checking that `buf` holds `3 w h` bytes and that the sizes fit the kernels'
    /// `int` arguments.
    pub(crate) fn new(buf: DeviceBuffer<'a, u8>, w: u32, h: u32) -> Result<Self> {
        let (wi, hi) = (int(w, "the frame's width")?, int(h, "the frame's height")?);
        let pitch = wi.checked_mul(3).ok_or_else(|| {
            Error::cuda(CudaErrorKind::BufferSize, format!("a {w}-pixel row does not fit a kernel's int pitch"))
        })?;
        buf.require(rgb_len(w, h)?, "the frame")?;
        Ok(DeviceFrame { buf, w: wi, h: hi, pitch })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! The registry against the `kernels/` folder. (The registered text is the file's by construction,
    //! `include_str!`, so it is not compared again.)

    use std::collections::BTreeSet;
    use std::path::Path;

    use super::{KERNELS, kernel};

    fn kernels_dir() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/kernels"))
    }

    /// The names in `#include "…"` lines of `text`.
    fn includes(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("#include \""))
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn every_cu_file_is_registered_once() {
        let mut on_disk = BTreeSet::new();
        for entry in std::fs::read_dir(kernels_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "cu") {
                on_disk.insert(path.file_name().unwrap().to_str().unwrap().to_owned());
            }
        }
        let registered: BTreeSet<String> = KERNELS.iter().map(|k| k.file.to_owned()).collect();
        assert_eq!(on_disk, registered, "kernels/*.cu and KERNELS differ");
        assert_eq!(registered.len(), KERNELS.len(), "a file registered twice");
        let names: BTreeSet<&str> = KERNELS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), KERNELS.len(), "duplicate module names");
        for k in KERNELS {
            assert_eq!(kernel(k.name), Some(k));
        }
    }

    #[test]
    fn every_entry_point_is_defined() {
        for k in KERNELS {
            assert!(!k.entry_points.is_empty(), "{}: no entry points", k.file);
            for ep in k.entry_points {
                let decl = format!("extern \"C\" __global__ void {ep}(");
                assert!(k.source.contains(&decl), "{}: `{decl}` not found", k.file);
            }
            // And nothing global is left unregistered.
            let defined = k.source.matches("extern \"C\" __global__ void ").count();
            assert_eq!(defined, k.entry_points.len(), "{}: entry points not all registered", k.file);
        }
    }

    #[test]
    fn every_included_header_is_registered() {
        for k in KERNELS {
            let registered: BTreeSet<&str> = k.headers.iter().map(|h| h.name).collect();
            let mut texts = vec![k.source];
            texts.extend(k.headers.iter().map(|h| h.source));
            for text in texts {
                for inc in includes(text) {
                    // cpu_shim.h is included only under CLO_CPU_SHIM (the C++ build), never by NVRTC.
                    if inc == "cpu_shim.h" {
                        continue;
                    }
                    assert!(registered.contains(inc), "{}: includes `{inc}`, not in its headers", k.file);
                }
            }
            for h in k.headers {
                assert!(kernels_dir().join(h.name).is_file(), "{}: header `{}` is not in kernels/", k.file, h.name);
            }
        }
    }
}
