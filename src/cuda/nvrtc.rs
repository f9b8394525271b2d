//! Finding NVRTC, and compiling the registered kernels to CUBIN with it.
//!
//! # Where NVRTC comes from
//!
//! cudarc loads NVRTC by bare soname (`libnvrtc.so.13`) and panics when the loader cannot find it. So before
//! cudarc is asked for anything, [`load`] finds the library itself, in this order, and `dlopen`s it by
//! absolute path, keeping it loaded for the life of the process:
//!
//! 1. the explicit path given to [`load`] (a file, or a folder holding `libnvrtc.so.13`);
//! 2. the environment variable `CLO_NVRTC_PATH` (file or folder);
//! 3. the project-local virtualenv `.local/venv` in the current directory or one of its parents, where
//!    `scripts/setup.sh --dev` installs the PyPI wheel `nvidia-cuda-nvrtc`
//!    (`lib/python3.*/site-packages/nvidia/cu13/lib/libnvrtc.so.13`);
//! 4. the `nvidia` package of the `python3` on `PATH` (`nvidia/cu13/lib` of each `nvidia.__path__` entry);
//! 5. the system loader (`LD_LIBRARY_PATH`, `ldconfig`'s cache).
//!
//! The glibc loader matches a later `dlopen("libnvrtc.so.13")` against the SONAME of an already-loaded
//! library, so cudarc then gets the very library loaded here; [`load`] checks that it does. NVRTC itself
//! `dlopen`s `libnvrtc-builtins.so.13.<minor>` by bare soname too, so the builtins library next to the
//! chosen NVRTC is loaded first the same way (without it every compile fails with "failed to open
//! libnvrtc-builtins").
//!
//! When every place fails, the one [`Error::Cuda`] lists each place tried and why.
//!
//! # Compiling
//!
//! [`compile_cubin`] compiles one [`KernelSource`] to CUBIN (device code for one real architecture, no PTX
//! JIT at load time: NVRTC 13.x emits PTX that an older 13.0 driver cannot JIT, CUBIN sidesteps that) with
//! `--fmad=false`, so that the kernels round exactly like the CPU build of the same source. Each
//! (module, architecture) compiles once per process; later calls return the cached bytes.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use cudarc::nvrtc::result::{self as nvrtc_result, NvrtcError};
use cudarc::nvrtc::sys;

use super::kernels::KernelSource;
use crate::{CudaErrorKind, Error, Result};

/// The environment variable naming NVRTC's library (or its folder).
pub const NVRTC_PATH_ENV: &str = "CLO_NVRTC_PATH";

/// The NVRTC library file the search looks for (the CUDA 13 soname).
pub const NVRTC_SONAME: &str = "libnvrtc.so.13";

/// Prefix of NVRTC's builtins library, which NVRTC itself loads by soname (`libnvrtc-builtins.so.13.0`).
const BUILTINS_PREFIX: &str = "libnvrtc-builtins.so.13";

/// The pip package whose wheel ships NVRTC, for the error message's fix.
const FIX: &str = "install NVRTC 13.0 (`pip install nvidia-cuda-nvrtc==13.0.88` gives \
                   nvidia/cu13/lib/libnvrtc.so.13, or a CUDA 13.0 toolkit) and set CLO_NVRTC_PATH to libnvrtc.so.13 \
                   or its folder (or pass it to the builder's nvrtc_path)";

/// The NVRTC library this process uses.
#[derive(Debug)]
pub struct Nvrtc {
    path: PathBuf,
    version: (i32, i32),
    // Dropped never: the value lives in a process-wide `OnceLock`. Holding the handles keeps the libraries
    // mapped, so cudarc's and NVRTC's own by-soname `dlopen`s keep resolving to them.
    _builtins: Option<libloading::Library>,
    _nvrtc: libloading::Library,
}

impl Nvrtc {
    /// Where the library was loaded from (the absolute path, or the bare soname when the system loader
    /// found it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// NVRTC's `(major, minor)` version.
    pub fn version(&self) -> (i32, i32) {
        self.version
    }
}

static LOADED: OnceLock<Nvrtc> = OnceLock::new();
static LOAD_LOCK: Mutex<()> = Mutex::new(());

/// Finds and loads NVRTC (see the [module docs](self) for the search order) and returns it. The first
/// successful call wins: later calls return the same library whatever `explicit` says.
///
/// # Errors
/// [`Error::Cuda`] listing every place tried, with the reason each failed.
pub fn load(explicit: Option<&Path>) -> Result<&'static Nvrtc> {
    if let Some(loaded) = LOADED.get() {
        return Ok(loaded);
    }
    let _guard = LOAD_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(loaded) = LOADED.get() {
        return Ok(loaded);
    }
    let loaded = search(explicit)?;
    Ok(LOADED.get_or_init(|| loaded))
}

/// NVRTC's `(major, minor)` version, loading it first if needed.
///
/// # Errors
/// [`Error::Cuda`] when NVRTC cannot be loaded (see [`load`]).
pub fn nvrtc_version() -> Result<(i32, i32)> {
    load(None).map(Nvrtc::version)
}

type CubinCache = Mutex<HashMap<(&'static str, &'static str, u32), Arc<Vec<u8>>>>;

fn cache() -> &'static CubinCache {
    static CACHE: OnceLock<CubinCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Compiles `kernel` to CUBIN for the real architecture `sm_<arch>` (`80` for A100, `90` for H100), loading
/// NVRTC first if needed. Each (module, architecture) compiles once per process; the bytes are cached.
///
/// The options are `--gpu-architecture=sm_<arch> --std=c++17 --fmad=false`; the module's
/// [`headers`](KernelSource::headers) are given to NVRTC as in-memory include files.
///
/// # Errors
/// [`Error::KernelCompile`] with NVRTC's log when the source (or the architecture option) is rejected;
/// [`Error::Cuda`] when NVRTC cannot be loaded or fails otherwise.
pub fn compile_cubin(kernel: &KernelSource, arch: u32) -> Result<Vec<u8>> {
    let key = (kernel.file, kernel.source, arch);
    if let Some(hit) = cache().lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return Ok(hit.as_ref().clone());
    }
    load(None)?;
    let cubin = Arc::new(compile_uncached(kernel, arch)?);
    cache().lock().unwrap_or_else(PoisonError::into_inner).insert(key, Arc::clone(&cubin));
    Ok(cubin.as_ref().clone())
}

fn cuda_err(what: &str, kernel: &KernelSource, e: NvrtcError) -> Error {
    Error::cuda_from(CudaErrorKind::Nvrtc, format!("NVRTC {what} for `{}` failed", kernel.file), e)
}

fn c_string(kernel: &KernelSource, what: &str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::KernelCompile {
        kernel: kernel.file.to_owned(),
        log: format!("{what} contains a NUL byte"),
    })
}

/// Destroys an NVRTC program when dropped.
struct Program(sys::nvrtcProgram);

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from a successful `nvrtcCreateProgram` and is destroyed only here, once.
        let _ = unsafe { nvrtc_result::destroy_program(self.0) };
    }
}

fn compile_uncached(kernel: &KernelSource, arch: u32) -> Result<Vec<u8>> {
    let src = c_string(kernel, "the source", kernel.source)?;
    let name = c_string(kernel, "the file name", kernel.file)?;
    let header_texts = kernel.headers.iter().map(|h| c_string(kernel, h.name, h.source)).collect::<Result<Vec<_>>>()?;
    let header_names = kernel.headers.iter().map(|h| c_string(kernel, h.name, h.name)).collect::<Result<Vec<_>>>()?;
    let text_ptrs: Vec<*const c_char> = header_texts.iter().map(|c| c.as_ptr()).collect();
    let name_ptrs: Vec<*const c_char> = header_names.iter().map(|c| c.as_ptr()).collect();
    let num_headers = c_int::try_from(text_ptrs.len())
        .map_err(|_| Error::KernelCompile { kernel: kernel.file.to_owned(), log: "too many headers".to_owned() })?;

    let mut raw: sys::nvrtcProgram = std::ptr::null_mut();
    // SAFETY: NVRTC is loaded (callers ran `load`), so cudarc's symbol lookup finds the function. Every
    // pointer is a NUL-terminated C string that outlives the program (`src`, `name`, the header vectors all
    // live until this function returns, after `Program`'s drop), and the two arrays hold `num_headers`
    // entries each.
    unsafe {
        sys::nvrtcCreateProgram(
            &mut raw,
            src.as_ptr(),
            name.as_ptr(),
            num_headers,
            text_ptrs.as_ptr(),
            name_ptrs.as_ptr(),
        )
    }
    .result()
    .map_err(|e| cuda_err("nvrtcCreateProgram", kernel, e))?;
    let program = Program(raw);

    let options = [format!("--gpu-architecture=sm_{arch}"), "--std=c++17".to_owned(), "--fmad=false".to_owned()];
    // SAFETY: `program.0` is a live program from `nvrtcCreateProgram` (destroyed only by `Program`'s drop,
    // after this function's last use of it); the options contain no NUL bytes.
    let compiled = unsafe { nvrtc_result::compile_program(program.0, &options) };
    if let Err(e) = compiled {
        // SAFETY: as above, `program.0` is live.
        let log = unsafe { nvrtc_result::get_program_log(program.0) }
            .map(|chars| log_text(&chars))
            .unwrap_or_else(|le| format!("(no log: {:?})", le.0));
        return Err(Error::KernelCompile {
            kernel: kernel.file.to_owned(),
            log: format!("{:?} with options {options:?}\n{log}", e.0),
        });
    }

    let mut size = 0usize;
    // SAFETY: `program.0` is live and compiled; `size` is a valid out-pointer.
    unsafe { sys::nvrtcGetCUBINSize(program.0, &mut size) }
        .result()
        .map_err(|e| cuda_err("nvrtcGetCUBINSize", kernel, e))?;
    let mut cubin = vec![0u8; size];
    // SAFETY: `cubin` has exactly the `size` bytes NVRTC reported for this program's CUBIN.
    unsafe { sys::nvrtcGetCUBIN(program.0, cubin.as_mut_ptr().cast::<c_char>()) }
        .result()
        .map_err(|e| cuda_err("nvrtcGetCUBIN", kernel, e))?;
    if cubin.is_empty() {
        return Err(Error::cuda(
            CudaErrorKind::Nvrtc,
            format!("NVRTC returned an empty CUBIN for `{}` (sm_{arch})", kernel.file),
        ));
    }
    Ok(cubin)
}

/// NVRTC's log (a NUL-terminated C string in a `c_char` buffer) as text.
fn log_text(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().map(|&c| c as u8).collect();
    match CStr::from_bytes_until_nul(&bytes) {
        Ok(s) => s.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// A place to try, and what to call it in the error.
struct Candidate {
    what: String,
    file: PathBuf,
}

fn search(explicit: Option<&Path>) -> Result<Nvrtc> {
    let mut tried: Vec<String> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();

    if let Some(p) = explicit {
        candidates.push(Candidate { what: "explicit path".to_owned(), file: library_file(p) });
    }
    match std::env::var_os(NVRTC_PATH_ENV) {
        Some(v) if !v.is_empty() => {
            candidates.push(Candidate { what: format!("${NVRTC_PATH_ENV}"), file: library_file(Path::new(&v)) })
        }
        _ => tried.push(format!("${NVRTC_PATH_ENV}: not set")),
    }
    venv_candidates(&mut candidates, &mut tried);
    python_candidates(&mut candidates, &mut tried);
    candidates.push(Candidate { what: "system loader".to_owned(), file: PathBuf::from(NVRTC_SONAME) });

    for c in candidates {
        match open(&c.file) {
            Ok(nvrtc) => return Ok(nvrtc),
            Err(why) => tried.push(format!("{} {}: {why}", c.what, c.file.display())),
        }
    }
    let tried = tried.iter().map(|t| format!("  - {t}")).collect::<Vec<_>>().join("\n");
    Err(Error::cuda(
        CudaErrorKind::NvrtcNotFound,
        format!("NVRTC ({NVRTC_SONAME}) could not be loaded; tried:\n{tried}\nfix: {FIX}"),
    ))
}

/// A folder means the NVRTC library inside it.
fn library_file(p: &Path) -> PathBuf {
    if p.is_dir() { p.join(NVRTC_SONAME) } else { p.to_path_buf() }
}

/// `.local/venv/lib/python3.*/site-packages/nvidia/cu13/lib/libnvrtc.so.13` in the current directory and
/// its parents.
fn venv_candidates(candidates: &mut Vec<Candidate>, tried: &mut Vec<String>) {
    let cwd = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            tried.push(format!(".local/venv: no current directory ({e})"));
            return;
        }
    };
    let mut found_venv = false;
    for dir in cwd.ancestors() {
        let lib = dir.join(".local/venv/lib");
        let Ok(entries) = std::fs::read_dir(&lib) else {
            continue;
        };
        found_venv = true;
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("python")))
            .collect();
        pythons.sort();
        if pythons.is_empty() {
            tried.push(format!("{}: no python3.* folder", lib.display()));
        }
        for py in pythons {
            let file = py.join("site-packages/nvidia/cu13/lib").join(NVRTC_SONAME);
            candidates.push(Candidate { what: "project virtualenv".to_owned(), file });
        }
    }
    if !found_venv {
        tried.push(format!(".local/venv: none in {} or its parents", cwd.display()));
    }
}

/// `nvidia/cu13/lib` of the `nvidia` namespace package of the `python3` on `PATH`.
fn python_candidates(candidates: &mut Vec<Candidate>, tried: &mut Vec<String>) {
    const SCRIPT: &str = "import nvidia, os\nfor p in nvidia.__path__: print(os.path.join(p, 'cu13', 'lib'))";
    let output = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let before = candidates.len();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                candidates.push(Candidate {
                    what: "python3's nvidia package".to_owned(),
                    file: Path::new(line).join(NVRTC_SONAME),
                });
            }
            if candidates.len() == before {
                tried.push("python3's nvidia package: no path".to_owned());
            }
        }
        Ok(out) => tried.push(format!("python3 -c 'import nvidia': {} (package not installed)", out.status)),
        Err(e) => tried.push(format!("python3: {e}")),
    }
}

type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int) -> sys::nvrtcResult;

/// Loads NVRTC from `file` (after its builtins library, when one sits next to it), then checks that cudarc
/// resolves to the same library and reads its version.
fn open(file: &Path) -> std::result::Result<Nvrtc, String> {
    let is_path = file.components().count() > 1;
    if is_path && !file.is_file() {
        return Err("no such file".to_owned());
    }
    let builtins = match file.parent().filter(|_| is_path) {
        Some(dir) => load_builtins(dir)?,
        None => None,
    };
    // SAFETY: loading NVRTC runs its initialisers, which only set up NVRTC's own state; it is the library
    // this function is looking for, not arbitrary code, and it stays loaded for the process (`Nvrtc` lives in
    // a static), so no symbol taken from it can dangle.
    let nvrtc = unsafe { libloading::Library::new(file) }.map_err(|e| e.to_string())?;
    // SAFETY: `nvrtcVersion` has this signature in every NVRTC (nvrtc.h); the symbol is only compared by
    // address, not called, and `nvrtc` outlives the `Symbol`.
    let ours = unsafe { nvrtc.get::<VersionFn>(b"nvrtcVersion\0") }.map_err(|e| e.to_string())?;
    let ours = *ours as usize;

    // SAFETY: `is_culib_present` only tries `dlopen` on cudarc's candidate sonames and closes them again.
    if !unsafe { sys::is_culib_present() } {
        return Err(format!("loaded, but cudarc's by-soname lookup still fails (its SONAME is not {NVRTC_SONAME}?)"));
    }
    // SAFETY: `is_culib_present()` just returned true, so `culib()` finds a library and does not panic; the
    // returned library is a process-wide static, and `nvrtcVersion` has this signature in every NVRTC.
    let theirs = unsafe { sys::culib().get::<VersionFn>(b"nvrtcVersion\0") }.map_err(|e| e.to_string())?;
    if *theirs as usize != ours {
        return Err("loaded, but cudarc resolved `libnvrtc` to a different library (another libnvrtc.so on \
                    the loader's path?)"
            .to_owned());
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: cudarc's NVRTC is loaded (checked above), and the out-pointers are valid for the call.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }.result().map_err(|e| format!("nvrtcVersion: {:?}", e.0))?;
    Ok(Nvrtc { path: file.to_path_buf(), version: (major, minor), _builtins: builtins, _nvrtc: nvrtc })
}

/// Loads `libnvrtc-builtins.so.13.*` from `dir` (the newest name when there are several), if there is one.
fn load_builtins(dir: &Path) -> std::result::Result<Option<libloading::Library>, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(BUILTINS_PREFIX)))
        .collect();
    names.sort();
    let Some(path) = names.pop() else {
        return Ok(None);
    };
    // SAFETY: the builtins library is NVRTC's own data library (no initialisers beyond the loader's) and is
    // kept loaded for the process alongside NVRTC.
    let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(lib))
}
