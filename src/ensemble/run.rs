//! [`Ensemble`]: a loaded, validated ensemble that runs on named tensors, with its pool of workers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::DynValue;

use super::plan::{self as ensemble, EnsemblePlan};
use crate::error::{EnsembleErrorKind, Error, RepositoryErrorKind, Result};
use crate::pool::{Lease, Pool};
use crate::repository::{LoadOptions, ModelSignature, Repository};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::tensor::Tensor;

/// A loaded, validated ensemble and a pool of workers (one ONNX Runtime session per model each).
///
/// It runs any ensemble on named tensors, exactly as Triton would; [`Pipeline`](crate::Pipeline) adds the CLO-specific typed
/// API on top.
pub struct Ensemble {
    repository: Repository,
    plan: EnsemblePlan,
    runtime: Runtime,
    options: RuntimeOptions,
    files: HashMap<String, PathBuf>,
    workers: Pool<Worker>,
}

impl std::fmt::Debug for Ensemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensemble").field("plan", &self.plan).field("runtime", &self.runtime).finish_non_exhaustive()
    }
}

/// What one thread needs to run a frame: a session per model and its scratch buffers, reused across frames.
pub(crate) struct Worker {
    pub(crate) sessions: HashMap<String, Session>,
    /// The frame as the preprocessing model's f32 NCHW input (allocated on first use in Model mode).
    pub(crate) frame_f32: Vec<f32>,
    /// The letterbox, f32 NCHW.
    pub(crate) letterbox: Vec<f32>,
    /// The detector's output, possibly remapped for the postprocessing model.
    pub(crate) detections: Vec<f32>,
    /// The crop, f32 NCHW.
    pub(crate) crop: Vec<f32>,
    /// A frame that was not 8-bit RGB, converted (reused so that the conversion allocates once per worker).
    pub(crate) rgb: Vec<u8>,
    /// The frames of an `infer_batch` chunk that were not 8-bit RGB, converted (src/pipeline/batch.rs).
    pub(crate) batch_rgb: Vec<Vec<u8>>,
    /// A frame of another size stretched to the model's input size as u8 RGB, and the rows of the stretch's
    /// horizontal pass (`FrameResize::PillowBilinear` only).
    pub(crate) stretched: Vec<u8>,
    pub(crate) stretch_rows: Vec<u8>,
}

impl Worker {
    fn new(sessions: HashMap<String, Session>) -> Worker {
        Worker {
            sessions,
            frame_f32: Vec::new(),
            letterbox: Vec::new(),
            detections: Vec::new(),
            crop: Vec::new(),
            rgb: Vec::new(),
            batch_rgb: Vec::new(),
            stretched: Vec::new(),
            stretch_rows: Vec::new(),
        }
    }
}

impl Ensemble {
    /// Opens the repository at `path` (all models, or `load_models` and what they need; with
    /// `strict_model_config` false, configs are auto-completed from the ONNX files as Triton does), plans the
    /// ensemble `name` (or the only one that no other ensemble runs), and validates every loaded model against
    /// its ONNX file.
    pub fn load(
        path: &Path,
        name: Option<&str>,
        load_models: Option<Vec<String>>,
        strict_model_config: bool,
        options: &RuntimeOptions,
    ) -> Result<Ensemble> {
        let runtime = Runtime::load(options.library_path.as_deref())?;
        let load = LoadOptions { load_models, strict_model_config, ..LoadOptions::default() };
        let inspect = |model: &str, file: &Path| runtime.signature(model, file);
        let repository = Repository::open_deferred(path, &load, &inspect)?;
        let entry = match name {
            Some(n) => repository.model(n).ok_or_else(|| Error::Repository {
                path: path.to_path_buf(),
                kind: RepositoryErrorKind::ModelNotFound,
                message: format!(
                    "no model `{n}` is loaded (loaded: {})",
                    repository.models().map(|m| m.config.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })?,
            None => {
                // The only top-level ensemble: nested ensembles (steps of another one) are not candidates.
                let nested = |name: &str| {
                    repository
                        .models()
                        .filter_map(|m| m.config.ensemble.as_ref())
                        .any(|e| e.steps.iter().any(|s| s.model_name == name))
                };
                let ensembles: Vec<_> =
                    repository.models().filter(|m| m.is_ensemble() && !nested(&m.config.name)).collect();
                match ensembles.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(Error::Repository {
                            path: path.to_path_buf(),
                            kind: RepositoryErrorKind::EnsembleChoice,
                            message: "no ensemble (a model with platform \"ensemble\") is loaded".to_string(),
                        });
                    }
                    many => {
                        return Err(Error::Repository {
                            path: path.to_path_buf(),
                            kind: RepositoryErrorKind::EnsembleChoice,
                            message: format!(
                                "several ensembles are loaded ({}); name one",
                                many.iter().map(|m| m.config.name.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                }
            }
        };
        // Strict validation first, like Triton loading each model before the ensemble: every loaded model's
        // served versions against their ONNX files. The sessions the plan needs become the first worker.
        let mut validated: HashMap<(String, i64), Session> = HashMap::new();
        for m in repository.models().filter(|m| !m.is_ensemble()) {
            for v in m.served_versions() {
                let file = m.model_file(v);
                let s = runtime.session(&m.config.name, &file, options, &[])?;
                crate::repository::validate_model(m, &file, &signature(&m.config.name, &s)?)?;
                validated.insert((m.config.name.clone(), v), s);
            }
        }
        repository.check_ensembles()?;
        let plan = EnsemblePlan::build(&repository, entry)?;
        let mut files = HashMap::new();
        let mut sessions = HashMap::new();
        for (model, version) in plan.models() {
            if let Some(m) = repository.model(model) {
                files.insert(model.to_string(), m.model_file(version));
            }
            if let Some(s) = validated.remove(&(model.to_string(), version)) {
                sessions.insert(model.to_string(), s);
            }
        }
        let first = Worker::new(sessions);
        Ok(Ensemble { repository, plan, runtime, options: options.clone(), files, workers: Pool::new(vec![first]) })
    }

    /// The execution plan.
    pub fn plan(&self) -> &EnsemblePlan {
        &self.plan
    }

    /// The model repository as loaded.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The ONNX file of a model the plan runs (for sessions on another execution provider).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn model_file(&self, model: &str) -> Option<&Path> {
        self.files.get(model).map(PathBuf::as_path)
    }

    /// The session options every worker's sessions are built with.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn runtime_options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// The ONNX Runtime library in use.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn new_worker(&self) -> Result<Worker> {
        let mut sessions = HashMap::new();
        for (model, file) in &self.files {
            let s = self.runtime.session(model, file, &self.options, &[])?;
            if let Some(entry) = self.repository.model(model) {
                crate::repository::validate_model(entry, file, &signature(model, &s)?)?;
            }
            sessions.insert(model.clone(), s);
        }
        Ok(Worker::new(sessions))
    }

    /// A worker (sessions and buffers) from the pool, or a new one; back in the pool when the lease drops.
    pub(crate) fn worker(&self) -> Result<Lease<'_, Worker>> {
        self.workers.take(|| self.new_worker())
    }

    /// Runs the ensemble on named input tensors and returns its declared outputs by name, as Triton would.
    /// Inputs are checked against the ensemble's config (names, types, shapes) first.
    pub fn run<I, S>(&self, inputs: I) -> Result<HashMap<String, Tensor>>
    where
        I: IntoIterator<Item = (S, Tensor)>,
        S: Into<String>,
    {
        let inputs: Vec<(String, Tensor)> = inputs.into_iter().map(|(n, t)| (n.into(), t)).collect();
        for want in &self.plan.inputs {
            let Some((_, t)) = inputs.iter().find(|(n, _)| *n == want.name) else {
                return Err(Error::Tensor {
                    model: self.plan.name.clone(),
                    tensor: want.name.clone(),
                    expected: "an input of this name".to_string(),
                    found: format!("inputs named {:?}", inputs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()),
                });
            };
            let shape = want.shape(self.plan.max_batch_size);
            let got = t.shape();
            let shape_ok = got.len() == shape.len() && got.iter().zip(&shape).all(|(&g, &s)| s < 0 || g == s);
            if t.data_type() != want.data_type || !shape_ok {
                return Err(Error::Tensor {
                    model: self.plan.name.clone(),
                    tensor: want.name.clone(),
                    expected: format!("{} {shape:?}", want.data_type.as_triton()),
                    found: format!("{} {got:?}", t.data_type().as_triton()),
                });
            }
        }
        for (n, _) in &inputs {
            if !self.plan.inputs.iter().any(|t| &t.name == n) {
                return Err(Error::Tensor {
                    model: self.plan.name.clone(),
                    tensor: n.to_string(),
                    expected: format!(
                        "one of the ensemble's inputs {:?}",
                        self.plan.inputs.iter().map(|t| &t.name).collect::<Vec<_>>()
                    ),
                    found: "an unknown input".to_string(),
                });
            }
        }
        let mut values = HashMap::new();
        for (n, t) in inputs {
            values.insert(n, t.into_value(&self.plan.name)?);
        }
        let outputs = ensemble::execute(&self.plan, &mut self.worker()?.sessions, values)?;
        outputs.iter().map(|(k, v)| Ok((k.clone(), Tensor::from_value(&self.plan.name, k, v)?))).collect()
    }
}

/// One step's model and the model-side names of the tensors the pipeline hands it (the CLO roles of
/// `src/pipeline/roles.rs`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StepNames {
    pub(crate) model: String,
    /// Model input name for each ensemble tensor it reads.
    pub(crate) inputs: HashMap<String, String>,
    /// Model output name (the step's only mapped output).
    pub(crate) output: String,
    /// The ensemble tensor the output becomes.
    pub(crate) output_tensor: String,
}

impl StepNames {
    /// The model's input name for the ensemble tensor `tensor`.
    pub(crate) fn input_name(&self, tensor: &str) -> Result<&str> {
        self.inputs.get(tensor).map(String::as_str).ok_or_else(|| Error::Ensemble {
            model: self.model.clone(),
            kind: EnsembleErrorKind::Internal,
            message: format!("model `{}` has no input mapped from `{tensor}`", self.model),
        })
    }

    /// Runs this step's session (from `sessions`, by model name) on `inputs` and returns its output.
    pub(crate) fn run(
        &self,
        sessions: &mut HashMap<String, Session>,
        inputs: Vec<(&str, ort::session::SessionInputValue<'_>)>,
    ) -> Result<DynValue> {
        let s = sessions.get_mut(&self.model).ok_or_else(|| Error::Ensemble {
            model: self.model.clone(),
            kind: EnsembleErrorKind::Internal,
            message: "no session for this model".to_string(),
        })?;
        let mut out = s.run(inputs).map_err(|e| Error::ort(&self.model, e))?;
        out.remove(&self.output).ok_or_else(|| Error::Tensor {
            model: self.model.clone(),
            tensor: self.output.clone(),
            expected: "an output of this name".to_string(),
            found: "the session returned none".to_string(),
        })
    }
}

/// What ONNX Runtime says a model's inputs and outputs are.
fn signature(model: &str, s: &Session) -> Result<ModelSignature> {
    crate::runtime::signature_of(model, s)
}
