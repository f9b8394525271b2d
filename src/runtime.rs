//! Finding ONNX Runtime's shared library, and building ONNX Runtime sessions.
//!
//! The crate uses `ort` with `load-dynamic`: `libonnxruntime.so` is loaded at run time, never linked. It is
//! looked for, in this order (the first that loads wins, once per process):
//!
//! 1. the path given to [`RuntimeOptions::library_path`] (a file, or a folder holding `libonnxruntime.so*`);
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. a project-local folder `.local/onnxruntime/` (this repository's `scripts/setup.sh` fills it from the
//!    PyPI `onnxruntime==1.31.1` wheel), in the current directory or one of its parents;
//! 4. an installed Python `onnxruntime` package (`python3 -c 'import onnxruntime'`, its `capi/` folder);
//! 5. the system loader (`libonnxruntime.so` on the library search path).
//!
//! An explicit setting (1, else 2) is the only place tried: when it does not load, the error says so, and
//! nothing else is searched (no `python3` is spawned). When nothing is set and no place works,
//! [`Error::RuntimeNotFound`] lists every place tried, why each failed, and what to install. ONNX Runtime can
//! be loaded only once per process: a later explicit setting that names another library is an error too.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::error::{Error, Result};
use crate::repository::{ModelSignature, TensorSignature};

/// The ONNX Runtime version this crate is built and tested against (the PyPI wheel the setup installs).
pub const ORT_VERSION: &str = "1.31.1";

/// What to install when no ONNX Runtime is found.
pub const INSTALL_HINT: &str = "install ONNX Runtime 1.31.1, e.g. `pip install onnxruntime==1.31.1` (its \
library is <site-packages>/onnxruntime/capi/libonnxruntime.so.1.31.1), and set ORT_DYLIB_PATH to that file or pass \
it to the builder's library_path; in a checkout of clo-pipeline, scripts/setup.sh does this into .local/";

/// Graph optimisation level for ONNX Runtime sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OptimizationLevel {
    /// No graph optimisation.
    Disable,
    /// Basic (constant folding, redundant node removal).
    Basic,
    /// Extended (fusions).
    Extended,
    /// Everything, including layout optimisations (ONNX Runtime's default).
    #[default]
    All,
}

impl OptimizationLevel {
    fn to_ort(self) -> GraphOptimizationLevel {
        match self {
            OptimizationLevel::Disable => GraphOptimizationLevel::Disable,
            OptimizationLevel::Basic => GraphOptimizationLevel::Level1,
            OptimizationLevel::Extended => GraphOptimizationLevel::Level2,
            OptimizationLevel::All => GraphOptimizationLevel::All,
        }
    }
}

/// How ONNX Runtime is found and how its sessions are configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimeOptions {
    /// `libonnxruntime.so` (or a folder holding it) to load before looking anywhere else.
    pub library_path: Option<PathBuf>,
    /// Threads inside one operator (0 = ONNX Runtime's default: one per core).
    pub intra_threads: usize,
    /// Threads across operators (0 = ONNX Runtime's default).
    pub inter_threads: usize,
    /// Graph optimisation level.
    pub optimization: OptimizationLevel,
    /// ONNX Runtime's memory pattern optimisation (on by default in ONNX Runtime). `None` keeps the default.
    pub memory_pattern: Option<bool>,
    /// Folder where each optimised model is written (`<model>.<version>.opt.onnx`), for inspection or reuse.
    pub optimized_model_dir: Option<PathBuf>,
    /// Whether idle intra-op threads spin waiting for work (`session.intra_op.allow_spinning`; ONNX Runtime
    /// spins by default). Spinning lowers latency when the cores are otherwise free; `Some(false)` gives
    /// the cores back between operators, which helps when several frames run at once
    /// ([`crate::Pipeline::infer_batch`]) or other work shares the cores. `None` keeps the default.
    pub intra_spinning: Option<bool>,
}

/// The loaded runtime: which library, and the process-wide ONNX Runtime environment.
#[derive(Clone)]
pub struct Runtime {
    library: PathBuf,
    env: ort::environment::Environment,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("library", &self.library).finish_non_exhaustive()
    }
}

/// The library loaded in this process, once one has loaded (ONNX Runtime can be loaded only once).
static LOADED: OnceLock<Runtime> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

impl Runtime {
    /// Finds and loads ONNX Runtime (see the module docs for the order), once per process. Later calls return
    /// the runtime already loaded; one whose explicit setting (`library_path`, else `ORT_DYLIB_PATH`) names
    /// another library fails, since a process cannot load a second ONNX Runtime.
    pub fn load(library_path: Option<&Path>) -> Result<Runtime> {
        let explicit = explicit_setting(library_path);
        if let Some(rt) = LOADED.get() {
            return rt.same_as(explicit.as_ref()).map(|()| rt.clone());
        }
        let _guard = LOADING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(rt) = LOADED.get() {
            return rt.same_as(explicit.as_ref()).map(|()| rt.clone());
        }
        let mut tried = Vec::new();
        let list = match &explicit {
            Some((path, source)) => {
                let mut out = Vec::new();
                push_dir_or_file(&mut out, path, source, &mut tried);
                out
            }
            None => candidates(&mut tried),
        };
        for candidate in list {
            match ort::init_from(&candidate.path) {
                Ok(builder) => match builder.with_name("clo-pipeline").build() {
                    Ok(env) => {
                        tracing::info!(library = %candidate.path.display(), source = candidate.source, "loaded ONNX Runtime");
                        let rt = Runtime { library: candidate.path, env };
                        return Ok(LOADED.get_or_init(|| rt).clone());
                    }
                    Err(e) => tried.push(format!("  {} ({}): {e}", candidate.path.display(), candidate.source)),
                },
                Err(e) => tried.push(format!("  {} ({}): {e}", candidate.path.display(), candidate.source)),
            }
        }
        let fix = match &explicit {
            Some((_, source)) => format!(
                "point {source} at the libonnxruntime.so of ONNX Runtime {ORT_VERSION} (or a folder holding it), or \
                 unset it to let the crate search; {source} is an explicit choice, so no other place was tried"
            ),
            None => INSTALL_HINT.to_string(),
        };
        Err(Error::RuntimeNotFound { tried: tried.join("\n"), fix })
    }

    /// Ok when `explicit` (if any) names the library this runtime was loaded from.
    fn same_as(&self, explicit: Option<&(PathBuf, &'static str)>) -> Result<()> {
        let Some((path, source)) = explicit else { return Ok(()) };
        let resolved = if path.is_dir() { library_in(path) } else { Some(absolute(path)) };
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        match resolved {
            Some(p) if canon(&p) == canon(&self.library) => Ok(()),
            _ => Err(Error::InvalidParameter {
                name: if *source == LIBRARY_PATH { "library_path" } else { "ORT_DYLIB_PATH" },
                message: format!(
                    "ONNX Runtime is already loaded in this process from {}, and a process can load it only once; \
                     {source} names {}",
                    self.library.display(),
                    path.display()
                ),
            }),
        }
    }

    /// The library file that was loaded.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The ONNX Runtime environment shared by every session of this process.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.env
    }

    /// Builds a CPU session for `model_file` with `options` (and `providers`, tried in order).
    pub fn session(
        &self,
        model: &str,
        model_file: &Path,
        options: &RuntimeOptions,
        providers: &[ort::ep::ExecutionProviderDispatch],
    ) -> Result<Session> {
        let wrap = |e: ort::Error| Error::ort(model, e);
        let mut b = Session::builder(&self.env).map_err(wrap)?;
        b = b.with_optimization_level(options.optimization.to_ort()).map_err(|e| wrap(e.into()))?;
        if options.intra_threads > 0 {
            b = b.with_intra_threads(options.intra_threads).map_err(|e| wrap(e.into()))?;
        }
        if options.inter_threads > 0 {
            b = b.with_inter_threads(options.inter_threads).map_err(|e| wrap(e.into()))?;
        }
        if let Some(spin) = options.intra_spinning {
            b = b.with_intra_op_spinning(spin).map_err(|e| wrap(e.into()))?;
        }
        if let Some(pattern) = options.memory_pattern {
            b = b.with_memory_pattern(pattern).map_err(|e| wrap(e.into()))?;
        }
        if let Some(dir) = &options.optimized_model_dir {
            let stem = model_file
                .parent()
                .and_then(|v| v.file_name())
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default();
            let out = dir.join(format!("{model}.{stem}.opt.onnx"));
            b = b.with_optimized_model_path(&out).map_err(|e| wrap(e.into()))?;
        }
        if !providers.is_empty() {
            b = b.with_execution_providers(providers).map_err(|e| wrap(e.into()))?;
        }
        b.commit_from_file(model_file).map_err(wrap)
    }

    /// The inputs and outputs ONNX Runtime reads from `model_file` (a CPU session with default options): what
    /// strict model config compares with a config, and what auto-completion fills a config from.
    pub fn signature(&self, model: &str, model_file: &Path) -> Result<ModelSignature> {
        let session = self.session(model, model_file, &RuntimeOptions::default(), &[])?;
        signature_of(model, &session)
    }
}

/// What ONNX Runtime says a session's inputs and outputs are (a symbolic or dynamic dim is `-1`).
pub fn signature_of(model: &str, s: &Session) -> Result<ModelSignature> {
    let conv = |o: &ort::value::Outlet| -> Result<TensorSignature> {
        let ty = o.dtype();
        let dt = ty.tensor_type().and_then(crate::tensor::data_type_of).ok_or_else(|| Error::Tensor {
            model: model.to_string(),
            tensor: o.name().to_string(),
            expected: "a tensor of a supported element type".to_string(),
            found: format!("{ty:?}"),
        })?;
        let shape = ty.tensor_shape().map(|s| s.iter().copied().collect()).unwrap_or_default();
        Ok(TensorSignature { name: o.name().to_string(), data_type: dt, shape })
    };
    Ok(ModelSignature {
        inputs: s.inputs().iter().map(conv).collect::<Result<_>>()?,
        outputs: s.outputs().iter().map(conv).collect::<Result<_>>()?,
    })
}

struct Candidate {
    path: PathBuf,
    source: &'static str,
}

const LIBRARY_PATH: &str = "builder's library_path";
const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// The explicit choice of library, if any: the builder's `library_path`, else a non-empty `ORT_DYLIB_PATH`.
fn explicit_setting(library_path: Option<&Path>) -> Option<(PathBuf, &'static str)> {
    if let Some(p) = library_path {
        return Some((p.to_path_buf(), LIBRARY_PATH));
    }
    std::env::var_os(ORT_DYLIB_PATH).filter(|v| !v.is_empty()).map(|v| (PathBuf::from(v), ORT_DYLIB_PATH))
}

/// Adds `p` (a library file, or a folder holding one) to `out`, or records in `tried` why it yields none.
fn push_dir_or_file(out: &mut Vec<Candidate>, p: &Path, source: &'static str, tried: &mut Vec<String>) {
    if p.is_dir() {
        match library_in(p) {
            Some(f) => out.push(Candidate { path: f, source }),
            None => tried.push(format!("  {} ({source}): no libonnxruntime.so* in this folder", p.display())),
        }
    } else if p.exists() {
        out.push(Candidate { path: absolute(p), source });
    } else {
        tried.push(format!("  {} ({source}): no such file", p.display()));
    }
}

/// The places searched when nothing is set explicitly, in order; places that yield no file are recorded in
/// `tried`.
fn candidates(tried: &mut Vec<String>) -> Vec<Candidate> {
    let mut out = Vec::new();
    tried.push(format!("  {LIBRARY_PATH}: not set"));
    tried.push(format!("  {ORT_DYLIB_PATH}: not set"));
    match project_dirs().into_iter().map(|d| d.join(".local").join("onnxruntime")).find(|d| d.is_dir()) {
        Some(d) => push_dir_or_file(&mut out, &d, "project-local .local/onnxruntime", tried),
        None => tried.push(
            "  .local/onnxruntime/ (project-local): not found in the current directory or its parents".to_string(),
        ),
    }
    match python_onnxruntime_dir() {
        Ok(capi) => push_dir_or_file(&mut out, &capi, "Python onnxruntime package", tried),
        Err(why) => tried.push(format!("  Python onnxruntime package: {why}")),
    }
    out.push(Candidate { path: PathBuf::from("libonnxruntime.so"), source: "system library search path" });
    out
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The current directory and its parents (a project's `.local/` is found from any of its subfolders).
fn project_dirs() -> Vec<PathBuf> {
    std::env::current_dir().map(|cwd| cwd.ancestors().map(Path::to_path_buf).collect()).unwrap_or_default()
}

/// `libonnxruntime.so`, or the highest-versioned `libonnxruntime.so.X.Y.Z`, in `dir`.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join("libonnxruntime.so");
    if plain.exists() {
        return Some(absolute(&plain));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("libonnxruntime.so.") || n == "onnxruntime.dll" || n == "libonnxruntime.dylib"
            })
        })
        .collect();
    found.sort();
    found.pop().map(|p| absolute(&p))
}

/// Asks the Python interpreter on PATH where its `onnxruntime` package is.
pub(crate) fn python_onnxruntime_dir() -> std::result::Result<PathBuf, String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("python3 could not be run ({e})"))?;
    if !out.status.success() {
        return Err("python3 has no onnxruntime package".to_string());
    }
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(PathBuf::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_in_prefers_plain_name_then_highest_version() {
        let dir = std::env::temp_dir().join(format!("clo-rt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libonnxruntime.so.1.2.0"), b"").unwrap();
        std::fs::write(dir.join("libonnxruntime.so.1.31.1"), b"").unwrap();
        assert_eq!(library_in(&dir).unwrap().file_name().unwrap(), "libonnxruntime.so.1.31.1");
        std::fs::write(dir.join("libonnxruntime.so"), b"").unwrap();
        assert_eq!(library_in(&dir).unwrap().file_name().unwrap(), "libonnxruntime.so");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_explicit_path_is_recorded_and_yields_no_candidate() {
        let mut tried = Vec::new();
        let mut out = Vec::new();
        push_dir_or_file(&mut out, Path::new("/nonexistent/libonnxruntime.so"), LIBRARY_PATH, &mut tried);
        assert!(out.is_empty());
        assert!(tried.iter().any(|t| t.contains("/nonexistent/libonnxruntime.so") && t.contains("no such file")));
    }

    #[test]
    fn the_builder_path_wins_over_the_environment() {
        let p = explicit_setting(Some(Path::new("/x/libonnxruntime.so"))).unwrap();
        assert_eq!((p.0.as_path(), p.1), (Path::new("/x/libonnxruntime.so"), LIBRARY_PATH));
    }
}
