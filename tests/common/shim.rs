//! The CUDA kernels built as a CPU library (`g++ -DCLO_CPU_SHIM` through `kernels/cpu_shim.h`) and loaded
//! with `libloading`, for the tests that compare them with the native CPU stages (`tests/kernels/kernels_cpu_shim.rs`,
//! `tests/kernels/properties.rs`). Included by `tests/kernels/main.rs` as `mod shim`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub type LetterboxFn = unsafe extern "C" fn(*const u8, i32, i32, i32, *mut f32, i32, i32, i32, i32, i32, f32, f32);
pub type ResizeFn = unsafe extern "C" fn(*const u8, i32, i32, i32, *mut f32, i32, i32, f32, f32, i32);
pub type CropFn = unsafe extern "C" fn(*const u8, i32, i32, i32, *const f32, *mut f32, i32, f32);
pub type BestBoxFn = unsafe extern "C" fn(*const f32, i32, f32, i32, i32, i32, i32, i32, i32, *mut f32, *mut i32, i32);

/// The kernels built as a CPU library, or why not.
pub struct Shim {
    _lib: libloading::Library,
    pub letterbox: LetterboxFn,
    pub resize: ResizeFn,
    pub crop: CropFn,
    pub best_box: BestBoxFn,
}

fn kernels_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels")
}

fn build_shim() -> Result<Shim, String> {
    let dir = std::env::temp_dir().join(format!("clo-kernels-shim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lib_path = dir.join("libclo_kernels_shim.so");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(kernels_dir())
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .collect();
    sources.sort();
    let out = Command::new("g++")
        .args(["-std=c++20", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror", "-pthread"])
        .arg("-DCLO_CPU_SHIM")
        .arg("-I")
        .arg(kernels_dir())
        .args(["-x", "c++"])
        .args(&sources)
        .args(["-x", "none", "-o"])
        .arg(&lib_path)
        .output()
        .map_err(|e| format!("SKIP-NO-GXX: g++ could not be run: {e}"))?;
    if !out.status.success() {
        panic!("g++ failed to build the shim:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    // SAFETY: the library was just built from this crate's kernels; its initialisers only set up the C++
    // runtime's statics, and it stays loaded for the whole test process (in a static).
    let lib = unsafe { libloading::Library::new(&lib_path) }.map_err(|e| e.to_string())?;
    // SAFETY: each symbol is an `extern "C"` launcher defined in kernels/*.cu with exactly these
    // parameter types; the function pointers are used only while `_lib` (same struct) is alive.
    unsafe {
        let letterbox = *lib.get::<LetterboxFn>(b"shim_letterbox\0").map_err(|e| e.to_string())?;
        let resize = *lib.get::<ResizeFn>(b"shim_resize\0").map_err(|e| e.to_string())?;
        let crop = *lib.get::<CropFn>(b"shim_crop_resize\0").map_err(|e| e.to_string())?;
        let best_box = *lib.get::<BestBoxFn>(b"shim_best_box\0").map_err(|e| e.to_string())?;
        Ok(Shim { _lib: lib, letterbox, resize, crop, best_box })
    }
}

/// The shim, or `None` after printing why the test skips (only when g++ is missing and `CI` is unset).
pub fn shim() -> Option<&'static Shim> {
    static SHIM: OnceLock<Result<Shim, String>> = OnceLock::new();
    match SHIM.get_or_init(build_shim) {
        Ok(s) => Some(s),
        Err(e) if e.starts_with("SKIP-NO-GXX") && std::env::var_os("CI").is_none() => {
            println!("SKIP: kernels not run on the CPU: {}", e.trim_start_matches("SKIP-NO-GXX: "));
            None
        }
        Err(e) => panic!("CPU shim unavailable: {e}"),
    }
}
