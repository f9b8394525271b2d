//! The typed CLO pipeline: [`Pipeline`], its builder, and its result ([`Inference`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ndarray::Array4;
use ort::session::Session;
use ort::value::{DynValue, TensorRef};

use crate::ensemble::{self, EnsemblePlan};
use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::ops::geometry::{self, CropBox, Geometry, Letterbox};
use crate::repository::{DataType, LoadOptions, ModelSignature, Repository, TensorSignature};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::tensor::{self, Tensor};

/// How a pre- or postprocessing stage runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StageMode {
    /// The repository's ONNX model: exactly Triton's behaviour. The frame becomes the model's f32 input
    /// tensor (resized to the model's input size first when it has another size).
    Model,
    /// The crate's native stage, straight from the u8 frame (never builds the full-size f32 tensor).
    Native,
    /// Native when, at build time, it matches the repository's model on probe frames within
    /// [`PipelineBuilder::parity_tolerance`]; else the model, with a `tracing` warning.
    #[default]
    Auto,
}

/// A detection, with its box in original frame pixels and in letterbox pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    /// Row of the detector's output this comes from.
    pub row: usize,
    /// `[x1, y1, x2, y2]` in original frame pixels (ordered, clamped to the frame).
    pub bbox: [f32; 4],
    /// `[x1, y1, x2, y2]` as the detector gave it, in letterbox pixels.
    pub letterbox_bbox: [f32; 4],
    /// Confidence.
    pub score: f32,
    /// Class index.
    pub class: f32,
}

/// Wall-clock time of each stage of one inference.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    /// Preprocessing (native letterbox, or frame conversion + preprocessing model).
    pub preprocess: Duration,
    /// The detector.
    pub detect: Duration,
    /// Postprocessing (best box + crop).
    pub postprocess: Duration,
    /// The estimator.
    pub estimate: Duration,
    /// Everything, from the frame in to the result out.
    pub total: Duration,
}

/// The result of [`Pipeline::infer`].
#[derive(Clone, Debug, PartialEq)]
pub struct Inference {
    /// Detections at or above the score threshold with finite values, in the detector's row order
    /// (padding rows dropped).
    pub detections: Vec<Detection>,
    /// Index into `detections` of the box that was cropped; `None` when there was no detection, in which case
    /// the whole frame was cropped (the documented behaviour of the repository's postprocessing model).
    pub best: Option<usize>,
    /// The estimator's output: the oil percentage.
    pub oil_pct: f32,
    /// The crop that the estimator saw, f32 `[1, 3, S, S]` NCHW on the model's scale (0..1 by default).
    pub crop: Array4<f32>,
    /// The box that was cropped, in original frame pixels.
    pub crop_box: [f32; 4],
    /// The frame's size `(width, height)`.
    pub frame_size: (u32, u32),
    /// The stage modes this inference ran with.
    pub modes: (StageMode, StageMode),
    /// Per-stage timings.
    pub timings: StageTimings,
}

impl Inference {
    /// The best detection, if any.
    pub fn best_detection(&self) -> Option<&Detection> {
        self.best.and_then(|i| self.detections.get(i))
    }

    /// The crop as an 8-bit RGB image (values divided by `scale`, rounded and clamped).
    pub fn crop_image(&self, scale: f32) -> image::RgbImage {
        let (_, _, h, w) = self.crop.dim();
        let inv = if scale != 0.0 { 1.0 / scale } else { 1.0 };
        image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let px = |c: usize| {
                let v = self.crop.get([0, c, y as usize, x as usize]).copied().unwrap_or(0.0) * inv;
                v.round().clamp(0.0, 255.0) as u8
            };
            image::Rgb([px(0), px(1), px(2)])
        })
    }
}

/// How one side of a parity check compares (max absolute difference).
#[derive(Clone, Debug, PartialEq)]
pub struct ParityReport {
    /// Frame size `(w, h)` checked.
    pub frame_size: (u32, u32),
    /// Max |native − model| over the letterbox tensor (the frame resized to the model's input size first, so
    /// both see the same pixels).
    pub letterbox_max_abs: f32,
    /// Max |native − model| over the crop, given the same detections.
    pub crop_max_abs: f32,
    /// Max |native − model| over the detector's output when it is fed each letterbox.
    pub detections_max_abs: f32,
    /// |native − model| of the oil percentage, end to end.
    pub oil_abs: f32,
    /// Whether both ends picked the same best row.
    pub same_best_row: bool,
    /// The tolerance this pipeline accepts for letterbox and crop.
    pub tolerance: f32,
}

impl ParityReport {
    /// Whether the native stages are within tolerance of the models on this frame.
    pub fn within_tolerance(&self) -> bool {
        self.letterbox_max_abs <= self.tolerance && self.crop_max_abs <= self.tolerance
    }
}

/// Builds a [`Pipeline`]. Every option has a default; [`PipelineBuilder::build`] does the costly, fallible work.
#[derive(Clone, Debug)]
pub struct PipelineBuilder {
    repository: PathBuf,
    ensemble: Option<String>,
    load_models: Option<Vec<String>>,
    runtime: RuntimeOptions,
    preprocess: StageMode,
    postprocess: StageMode,
    pad_value: Option<f32>,
    scale: Option<f32>,
    score_threshold: Option<f32>,
    parity_tolerance: f32,
}

impl PipelineBuilder {
    fn new(repository: impl Into<PathBuf>) -> Self {
        PipelineBuilder {
            repository: repository.into(),
            ensemble: None,
            load_models: None,
            runtime: RuntimeOptions::default(),
            preprocess: StageMode::Auto,
            postprocess: StageMode::Auto,
            pad_value: None,
            scale: None,
            score_threshold: None,
            parity_tolerance: 1e-4,
        }
    }

    /// The ensemble to run (default: the repository's only ensemble).
    pub fn ensemble(mut self, name: impl Into<String>) -> Self {
        self.ensemble = Some(name.into());
        self
    }

    /// Loads only these models and what their ensembles need, like Triton's
    /// `--model-control-mode=explicit --load-model=...` (default: every model in the repository).
    pub fn load_models<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.load_models = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// ONNX Runtime options: where the library is, threads, graph optimisation.
    pub fn runtime(mut self, options: RuntimeOptions) -> Self {
        self.runtime = options;
        self
    }

    /// `libonnxruntime.so` to load before looking anywhere else.
    pub fn library_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime.library_path = Some(path.into());
        self
    }

    /// Threads inside one ONNX Runtime operator (0 = ONNX Runtime's default).
    pub fn intra_threads(mut self, n: usize) -> Self {
        self.runtime.intra_threads = n;
        self
    }

    /// Threads across ONNX Runtime operators (0 = ONNX Runtime's default).
    pub fn inter_threads(mut self, n: usize) -> Self {
        self.runtime.inter_threads = n;
        self
    }

    /// How preprocessing runs (default [`StageMode::Auto`]).
    pub fn preprocess(mut self, mode: StageMode) -> Self {
        self.preprocess = mode;
        self
    }

    /// How postprocessing runs (default [`StageMode::Auto`]).
    pub fn postprocess(mut self, mode: StageMode) -> Self {
        self.postprocess = mode;
        self
    }

    /// Both stages' mode.
    pub fn stage_mode(self, mode: StageMode) -> Self {
        self.preprocess(mode).postprocess(mode)
    }

    /// Letterbox padding value on the model's scale (default 114/255).
    pub fn pad_value(mut self, v: f32) -> Self {
        self.pad_value = Some(v);
        self
    }

    /// Multiplier from u8 pixel value to model value (default 1/255).
    pub fn pixel_scale(mut self, v: f32) -> Self {
        self.scale = Some(v);
        self
    }

    /// Minimum detection score (default 0.25).
    pub fn score_threshold(mut self, v: f32) -> Self {
        self.score_threshold = Some(v);
        self
    }

    /// Max absolute difference between native and model stages that [`StageMode::Auto`] accepts (default 1e-4).
    pub fn parity_tolerance(mut self, v: f32) -> Self {
        self.parity_tolerance = v;
        self
    }

    /// Loads ONNX Runtime and the repository, validates every model against its ONNX file, plans the
    /// ensemble, recognises the CLO stages, and settles each stage's mode.
    pub fn build(self) -> Result<Pipeline> {
        let ensemble =
            Ensemble::load(&self.repository, self.ensemble.as_deref(), self.load_models.clone(), &self.runtime)?;
        let roles = Roles::recognise(&ensemble.plan)?;
        let mut geometry = roles.geometry(&ensemble.plan)?;
        if let Some(v) = self.pad_value {
            geometry.pad_value = v;
        }
        if let Some(v) = self.scale {
            geometry.scale = v;
        }
        if let Some(v) = self.score_threshold {
            geometry.score_threshold = v;
        }
        geometry.validate()?;
        if !(self.parity_tolerance.is_finite() && self.parity_tolerance >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "parity_tolerance",
                message: format!("must be finite and >= 0, got {}", self.parity_tolerance),
            });
        }
        let mut pipeline = Pipeline {
            ensemble,
            roles,
            geometry,
            preprocess: self.preprocess,
            postprocess: self.postprocess,
            tolerance: self.parity_tolerance,
        };
        if self.preprocess == StageMode::Auto || self.postprocess == StageMode::Auto {
            let probe = probe_frame(pipeline.geometry.model_input.0, pipeline.geometry.model_input.1);
            let (w, h) = pipeline.geometry.model_input;
            let report = pipeline.parity_rgb8(&probe, w, h)?;
            let ok_pre = report.letterbox_max_abs <= pipeline.tolerance;
            let ok_post = report.crop_max_abs <= pipeline.tolerance;
            pipeline.preprocess =
                settle(self.preprocess, ok_pre, "preprocess", report.letterbox_max_abs, pipeline.tolerance);
            pipeline.postprocess =
                settle(self.postprocess, ok_post, "postprocess", report.crop_max_abs, pipeline.tolerance);
        }
        tracing::info!(
            ensemble = %pipeline.ensemble.plan.name,
            preprocess = ?pipeline.preprocess,
            postprocess = ?pipeline.postprocess,
            "pipeline ready"
        );
        Ok(pipeline)
    }
}

fn settle(asked: StageMode, ok: bool, stage: &str, diff: f32, tol: f32) -> StageMode {
    match asked {
        StageMode::Auto if ok => StageMode::Native,
        StageMode::Auto => {
            tracing::warn!(
                stage,
                max_abs_diff = diff,
                tolerance = tol,
                "native stage differs from the repository's model; using the model"
            );
            StageMode::Model
        }
        other => other,
    }
}

/// A loaded, validated ensemble and a pool of workers (one ONNX Runtime session per model each).
///
/// It runs any ensemble on named tensors, exactly as Triton would; [`Pipeline`] adds the CLO-specific typed
/// API on top.
pub struct Ensemble {
    repository: Repository,
    plan: EnsemblePlan,
    runtime: Runtime,
    options: RuntimeOptions,
    files: HashMap<String, PathBuf>,
    workers: Mutex<Vec<Worker>>,
}

impl std::fmt::Debug for Ensemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ensemble").field("plan", &self.plan).field("runtime", &self.runtime).finish_non_exhaustive()
    }
}

/// What one thread needs to run a frame: a session per model and its scratch buffers, reused across frames.
struct Worker {
    sessions: HashMap<String, Session>,
    /// The frame as the preprocessing model's f32 NCHW input (allocated on first use in Model mode).
    frame_f32: Vec<f32>,
    /// The letterbox, f32 NCHW.
    letterbox: Vec<f32>,
    /// The detector's output, possibly remapped for the postprocessing model.
    detections: Vec<f32>,
    /// The crop, f32 NCHW.
    crop: Vec<f32>,
}

impl Worker {
    fn new(sessions: HashMap<String, Session>) -> Worker {
        Worker { sessions, frame_f32: Vec::new(), letterbox: Vec::new(), detections: Vec::new(), crop: Vec::new() }
    }
}

impl Ensemble {
    /// Opens the repository at `path` (all models, or `load_models` and what they need), plans the ensemble
    /// `name` (or the only one), and validates every loaded model against its ONNX file.
    pub fn load(
        path: &Path,
        name: Option<&str>,
        load_models: Option<Vec<String>>,
        options: &RuntimeOptions,
    ) -> Result<Ensemble> {
        let runtime = Runtime::load(options.library_path.as_deref())?;
        let repository = Repository::open_with(path, &LoadOptions { load_models })?;
        let entry = match name {
            Some(n) => repository.model(n).ok_or_else(|| Error::Repository {
                path: path.to_path_buf(),
                message: format!(
                    "no model `{n}` is loaded (loaded: {})",
                    repository.models().map(|m| m.config.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            })?,
            None => {
                let ensembles: Vec<_> = repository.models().filter(|m| m.is_ensemble()).collect();
                match ensembles.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(Error::Repository {
                            path: path.to_path_buf(),
                            message: "no ensemble (a model with platform \"ensemble\") is loaded".to_string(),
                        });
                    }
                    many => {
                        return Err(Error::Repository {
                            path: path.to_path_buf(),
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
        Ok(Ensemble { repository, plan, runtime, options: options.clone(), files, workers: Mutex::new(vec![first]) })
    }

    /// The execution plan.
    pub fn plan(&self) -> &EnsemblePlan {
        &self.plan
    }

    /// The model repository as loaded.
    pub fn repository(&self) -> &Repository {
        &self.repository
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

    fn take_worker(&self) -> Result<Worker> {
        let idle = self.workers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(w) => Ok(w),
            None => self.new_worker(),
        }
    }

    fn give_back(&self, w: Worker) {
        self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(w);
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
        let mut worker = self.take_worker()?;
        let result = ensemble::execute(&self.plan, &mut worker.sessions, values);
        self.give_back(worker);
        let outputs = result?;
        outputs.iter().map(|(k, v)| Ok((k.clone(), Tensor::from_value(&self.plan.name, k, v)?))).collect()
    }
}

/// What ONNX Runtime says a model's inputs and outputs are.
fn signature(model: &str, s: &Session) -> Result<ModelSignature> {
    let conv = |o: &ort::value::Outlet| -> Result<TensorSignature> {
        let ty = o.dtype();
        let dt = ty.tensor_type().and_then(tensor::data_type_of).ok_or_else(|| Error::Tensor {
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

/// One step's model and the model-side names of the tensors the pipeline hands it.
#[derive(Clone, Debug, PartialEq)]
struct StepNames {
    model: String,
    /// Model input name for each ensemble tensor it reads.
    inputs: HashMap<String, String>,
    /// Model output name (the step's only mapped output).
    output: String,
    /// The ensemble tensor the output becomes.
    output_tensor: String,
}

/// The CLO roles, recognised from the ensemble's tensor wiring (not from model names).
#[derive(Clone, Debug, PartialEq)]
struct Roles {
    /// The ensemble's image input.
    image: String,
    preprocess: StepNames,
    detect: StepNames,
    postprocess: StepNames,
    estimate: StepNames,
}

impl Roles {
    fn recognise(plan: &EnsemblePlan) -> Result<Roles> {
        let err = |m: String| Error::Ensemble {
            model: plan.name.clone(),
            message: format!(
                "does not have the CLO shape (image → preprocess → detect; image + detections → postprocess → estimate): {m}"
            ),
        };
        let [image] = plan.inputs.as_slice() else {
            return Err(err(format!("expected one input (the image), found {}", plan.inputs.len())));
        };
        if plan.steps.len() != 4 {
            return Err(err(format!("expected 4 steps, found {}", plan.steps.len())));
        }
        let names = |i: usize| -> Result<StepNames> {
            let s = &plan.steps[i];
            let [(out, out_tensor)] = s.outputs.as_slice() else {
                return Err(err(format!("step `{}` must map exactly one output, maps {}", s.model, s.outputs.len())));
            };
            Ok(StepNames {
                model: s.model.clone(),
                inputs: s.inputs.iter().map(|(k, v)| (v.clone(), k.clone())).collect(),
                output: out.clone(),
                output_tensor: out_tensor.clone(),
            })
        };
        let reads_only_image = |i: usize| plan.steps[i].inputs.len() == 1 && plan.steps[i].inputs[0].1 == image.name;
        let reads_image_and_one = |i: usize| {
            plan.steps[i].inputs.len() == 2
                && plan.steps[i].inputs.iter().filter(|(_, v)| *v == image.name).count() == 1
        };
        let pre = (0..4).filter(|&i| reads_only_image(i)).collect::<Vec<_>>();
        let post = (0..4).filter(|&i| reads_image_and_one(i)).collect::<Vec<_>>();
        let ([pre], [post]) = (pre.as_slice(), post.as_slice()) else {
            return Err(err(
                "expected exactly one step reading only the image and one reading the image and one more tensor".into(),
            ));
        };
        let preprocess = names(*pre)?;
        let postprocess = names(*post)?;
        let det_tensor =
            plan.steps[*post].inputs.iter().map(|(_, v)| v).find(|v| **v != image.name).cloned().unwrap_or_default();
        let det = plan.writer(&det_tensor).ok_or_else(|| err(format!("no step writes `{det_tensor}`")))?;
        let detect = names(det)?;
        if detect.inputs.len() != 1 || !detect.inputs.contains_key(&preprocess.output_tensor) {
            return Err(err(format!("the detector `{}` must read only the preprocessing output", detect.model)));
        }
        let est = plan.readers(&postprocess.output_tensor);
        let [est] = est.as_slice() else {
            return Err(err(format!("exactly one step must read the crop `{}`", postprocess.output_tensor)));
        };
        let estimate = names(*est)?;
        if estimate.inputs.len() != 1 {
            return Err(err(format!("the estimator `{}` must read only the crop", estimate.model)));
        }
        Ok(Roles { image: image.name.clone(), preprocess, detect, postprocess, estimate })
    }

    /// Geometry from the configs' shapes: the image input `[1,3,H,W]`, the letterbox `[1,3,S,S]`, the crop.
    fn geometry(&self, plan: &EnsemblePlan) -> Result<Geometry> {
        let nchw = |tensor: &str| -> Result<(u32, u32)> {
            let (dt, shape) = plan.tensors.get(tensor).cloned().unwrap_or((DataType::Fp32, Vec::new()));
            let dims: Vec<i64> = shape.iter().copied().skip_while(|_| false).collect();
            let hw = match dims.as_slice() {
                [_, 3, h, w] | [3, h, w] if *h > 0 && *w > 0 => Some((*w as u32, *h as u32)),
                _ => None,
            };
            match (dt, hw) {
                (DataType::Fp32, Some(hw)) => Ok(hw),
                _ => Err(Error::Ensemble {
                    model: plan.name.clone(),
                    message: format!(
                        "tensor `{tensor}` must be TYPE_FP32 [1,3,H,W] with static H, W; it is {} {shape:?}",
                        dt.as_triton()
                    ),
                }),
            }
        };
        let model_input = nchw(&self.image)?;
        let (lw, lh) = nchw(&self.preprocess.output_tensor)?;
        let (cw, ch) = nchw(&self.postprocess.output_tensor)?;
        if lw != lh || cw != ch {
            return Err(Error::Ensemble {
                model: plan.name.clone(),
                message: format!("the letterbox ({lw}x{lh}) and the crop ({cw}x{ch}) must be square"),
            });
        }
        Ok(Geometry { model_input, letterbox: lw, crop: cw, ..Geometry::default() })
    }
}

/// How a detector's letterbox coordinates map to the original frame: through `lb`, then scaled by `(sx, sy)`.
#[derive(Clone, Copy, Debug)]
struct DetFrame {
    lb: Letterbox,
    sx: f32,
    sy: f32,
}

impl DetFrame {
    fn original_of(&self, x: f32, y: f32) -> (f32, f32) {
        let (ox, oy) = self.lb.to_original(x, y);
        (ox * self.sx, oy * self.sy)
    }
    fn letterbox_of(&self, (x, y): (f32, f32)) -> (f32, f32) {
        self.lb.to_letterbox(x / self.sx, y / self.sy)
    }
}

/// The typed CLO pipeline over a Triton model repository.
///
/// `Send + Sync`: share it between threads (`Arc<Pipeline>`); each concurrent [`Pipeline::infer`] takes a
/// worker (ONNX Runtime sessions and scratch buffers) from a pool, creating one when none is idle, and
/// returns it afterwards. Workers' buffers are reused across frames.
#[derive(Debug)]
pub struct Pipeline {
    ensemble: Ensemble,
    roles: Roles,
    geometry: Geometry,
    preprocess: StageMode,
    postprocess: StageMode,
    tolerance: f32,
}

impl Pipeline {
    /// Starts building a pipeline over the Triton model repository at `repository`.
    pub fn builder(repository: impl Into<PathBuf>) -> PipelineBuilder {
        PipelineBuilder::new(repository)
    }

    /// The geometry in use.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The settled stage modes `(preprocess, postprocess)` (never `Auto`).
    pub fn stage_modes(&self) -> (StageMode, StageMode) {
        (self.preprocess, self.postprocess)
    }

    /// The generic ensemble underneath, to run on named tensors exactly as Triton would.
    pub fn ensemble(&self) -> &Ensemble {
        &self.ensemble
    }

    /// Runs the ensemble on named tensors (see [`Ensemble::run`]).
    pub fn run_ensemble<I, S>(&self, inputs: I) -> Result<HashMap<String, Tensor>>
    where
        I: IntoIterator<Item = (S, Tensor)>,
        S: Into<String>,
    {
        self.ensemble.run(inputs)
    }

    /// Runs the pipeline on a decoded image (converted to 8-bit RGB first when it is not).
    pub fn infer(&self, image: &image::DynamicImage) -> Result<Inference> {
        match image {
            image::DynamicImage::ImageRgb8(rgb) => self.infer_rgb8(rgb.as_raw(), rgb.width(), rgb.height()),
            other => {
                let rgb = other.to_rgb8();
                self.infer_rgb8(rgb.as_raw(), rgb.width(), rgb.height())
            }
        }
    }

    /// Runs the pipeline on a raw 8-bit RGB frame, row-major HWC, `width * height * 3` bytes, any size.
    pub fn infer_rgb8(&self, frame: &[u8], width: u32, height: u32) -> Result<Inference> {
        self.infer_with(frame, width, height, self.preprocess, self.postprocess)
    }

    /// Runs both the native stages and the repository's models on `image` and reports how far apart they are.
    pub fn parity(&self, image: &image::DynamicImage) -> Result<ParityReport> {
        let rgb = image.to_rgb8();
        self.parity_rgb8(rgb.as_raw(), rgb.width(), rgb.height())
    }

    /// [`Pipeline::parity`] on a raw 8-bit RGB frame.
    pub fn parity_rgb8(&self, frame: &[u8], width: u32, height: u32) -> Result<ParityReport> {
        check_frame(frame, width, height)?;
        let g = &self.geometry;
        let (mw, mh) = g.model_input;
        let mut worker = self.ensemble.take_worker()?;
        let r = (|| {
            // Letterbox: both from the same frame at the model's input size.
            let frame_m: std::borrow::Cow<'_, [u8]> = if (width, height) == (mw, mh) {
                std::borrow::Cow::Borrowed(frame)
            } else {
                std::borrow::Cow::Owned(resize_u8(frame, width, height, mw, mh)?)
            };
            let side = g.letterbox as usize;
            let mut native_lb = vec![0f32; 3 * side * side];
            cpu::letterbox(&frame_m, mw, mh, g, &mut native_lb)?;
            self.model_letterbox(&mut worker, &frame_m, mw, mh)?;
            let lb_diff = max_abs(&native_lb, &worker.letterbox);
            // Detections from each letterbox.
            let det_model = self.detect(&mut worker)?;
            worker.letterbox.copy_from_slice(&native_lb);
            let det_native = self.detect(&mut worker)?;
            let det_diff = max_abs(&det_model, &det_native);
            // Crop from the same detections (the model's), plus crafted rows that exercise the mapping.
            let lbm = Letterbox::new(mw, mh, g.letterbox)?;
            let dframe = DetFrame { lb: lbm, sx: 1.0, sy: 1.0 };
            let mut crop_diff = 0f32;
            for dets in probe_detections(&det_model, &lbm, g) {
                worker.detections.clear();
                worker.detections.extend_from_slice(&dets);
                self.model_crop(&mut worker, &frame_m, mw, mh, true)?;
                let model_crop = worker.crop.clone();
                self.native_crop(&mut worker, &frame_m, mw, mh, &dframe)?;
                crop_diff = crop_diff.max(max_abs(&model_crop, &worker.crop));
            }
            Ok::<_, Error>((lb_diff, det_diff, crop_diff))
        })();
        self.ensemble.give_back(worker);
        let (lb_diff, det_diff, crop_diff) = r?;
        let a = self.infer_with(frame, width, height, StageMode::Model, StageMode::Model)?;
        let b = self.infer_with(frame, width, height, StageMode::Native, StageMode::Native)?;
        Ok(ParityReport {
            frame_size: (width, height),
            letterbox_max_abs: lb_diff,
            crop_max_abs: crop_diff,
            detections_max_abs: det_diff,
            oil_abs: (a.oil_pct - b.oil_pct).abs(),
            same_best_row: a.best_detection().map(|d| d.row) == b.best_detection().map(|d| d.row),
            tolerance: self.tolerance,
        })
    }

    fn infer_with(&self, frame: &[u8], width: u32, height: u32, pre: StageMode, post: StageMode) -> Result<Inference> {
        check_frame(frame, width, height)?;
        let t0 = Instant::now();
        let g = &self.geometry;
        let (mw, mh) = g.model_input;
        let mut worker = self.ensemble.take_worker()?;
        let result = (|| {
            let mut timings = StageTimings::default();
            // Preprocess.
            let t = Instant::now();
            let dframe = if pre == StageMode::Model {
                self.model_letterbox(&mut worker, frame, width, height)?;
                DetFrame {
                    lb: Letterbox::new(mw, mh, g.letterbox)?,
                    sx: width as f32 / mw as f32,
                    sy: height as f32 / mh as f32,
                }
            } else {
                ensure_len(&mut worker.letterbox, 3 * g.letterbox as usize * g.letterbox as usize);
                let lb = cpu::letterbox(frame, width, height, g, &mut worker.letterbox)?;
                DetFrame { lb, sx: 1.0, sy: 1.0 }
            };
            timings.preprocess = t.elapsed();
            // Detect.
            let t = Instant::now();
            let dets = self.detect(&mut worker)?;
            timings.detect = t.elapsed();
            // Postprocess.
            let t = Instant::now();
            let detections = typed_detections(&dets, &dframe, g, width, height);
            let best_row = geometry::best_detection(&dets, g.score_threshold);
            let best = best_row.and_then(|r| detections.iter().position(|d| d.row == r));
            let crop_box = best.and_then(|i| detections.get(i)).map(|d| d.bbox).unwrap_or([
                0.0,
                0.0,
                (width - 1) as f32,
                (height - 1) as f32,
            ]);
            if post == StageMode::Model {
                // The postprocessing model sees detections in the letterbox of the model-size frame.
                let mframe = DetFrame {
                    lb: Letterbox::new(mw, mh, g.letterbox)?,
                    sx: width as f32 / mw as f32,
                    sy: height as f32 / mh as f32,
                };
                worker.detections.clear();
                worker.detections.extend_from_slice(&dets);
                if pre != StageMode::Model {
                    remap_rows(&mut worker.detections, &dframe, &mframe);
                }
                self.model_crop(&mut worker, frame, width, height, pre == StageMode::Model)?;
            } else {
                worker.detections.clear();
                worker.detections.extend_from_slice(&dets);
                self.native_crop(&mut worker, frame, width, height, &dframe)?;
            }
            timings.postprocess = t.elapsed();
            // Estimate.
            let t = Instant::now();
            let oil_pct = self.estimate(&mut worker)?;
            timings.estimate = t.elapsed();
            let s = g.crop as usize;
            let crop = Array4::from_shape_vec((1, 3, s, s), worker.crop.clone()).map_err(|e| Error::Tensor {
                model: self.roles.postprocess.model.clone(),
                tensor: self.roles.postprocess.output.clone(),
                expected: format!("[1,3,{s},{s}]"),
                found: e.to_string(),
            })?;
            timings.total = t0.elapsed();
            Ok(Inference {
                detections,
                best,
                oil_pct,
                crop,
                crop_box,
                frame_size: (width, height),
                modes: (pre, post),
                timings,
            })
        })();
        self.ensemble.give_back(worker);
        result
    }

    /// Model-mode preprocessing: frame → f32 model input → preprocessing model → `worker.letterbox`.
    fn model_letterbox(&self, worker: &mut Worker, frame: &[u8], width: u32, height: u32) -> Result<()> {
        self.frame_tensor(worker, frame, width, height)?;
        let (mw, mh) = self.geometry.model_input;
        let r = &self.roles.preprocess;
        let input = view(&r.model, &worker.frame_f32, [1, 3, mh as usize, mw as usize])?;
        let out = run_one(&mut worker.sessions, r, vec![(input_name(r, &self.roles.image)?, input)])?;
        let side = self.geometry.letterbox as usize;
        copy_out(r, &out, &[1, 3, side, side], &mut worker.letterbox)
    }

    /// Fills `worker.frame_f32` with the frame as the models' f32 NCHW input (resized to the model's input size).
    fn frame_tensor(&self, worker: &mut Worker, frame: &[u8], width: u32, height: u32) -> Result<()> {
        let (mw, mh) = self.geometry.model_input;
        ensure_len(&mut worker.frame_f32, 3 * mw as usize * mh as usize);
        cpu::resize_to_nchw(frame, width, height, mw, mh, 1.0, &mut worker.frame_f32)
    }

    /// Runs the detector on `worker.letterbox`; returns its rows (flattened, 6 per row).
    fn detect(&self, worker: &mut Worker) -> Result<Vec<f32>> {
        let r = &self.roles.detect;
        let side = self.geometry.letterbox as usize;
        let input = view(&r.model, &worker.letterbox, [1, 3, side, side])?;
        let out =
            run_one(&mut worker.sessions, r, vec![(input_name(r, &self.roles.preprocess.output_tensor)?, input)])?;
        let (shape, data) = out.try_extract_tensor::<f32>().map_err(|e| Error::ort(&r.model, e))?;
        if shape.last() != Some(&6) {
            return Err(Error::Tensor {
                model: r.model.clone(),
                tensor: r.output.clone(),
                expected: "rows of 6 values (x1, y1, x2, y2, score, class)".to_string(),
                found: format!("shape {:?}", &shape[..]),
            });
        }
        Ok(data.to_vec())
    }

    /// Model-mode postprocessing on `worker.detections` → `worker.crop`.
    /// `frame_ready`: `worker.frame_f32` already holds this frame (Model-mode preprocessing built it).
    fn model_crop(&self, worker: &mut Worker, frame: &[u8], width: u32, height: u32, frame_ready: bool) -> Result<()> {
        if !frame_ready {
            self.frame_tensor(worker, frame, width, height)?;
        }
        let (mw, mh) = self.geometry.model_input;
        let r = &self.roles.postprocess;
        let rows = worker.detections.len() / 6;
        let image = view(&r.model, &worker.frame_f32, [1, 3, mh as usize, mw as usize])?;
        let dets = TensorRef::from_array_view(([1usize, rows, 6], &worker.detections[..rows * 6]))
            .map_err(|e| Error::ort(&r.model, e))?
            .into_dyn();
        let inputs: Vec<(String, ort::session::SessionInputValue<'_>)> = vec![
            (input_name(r, &self.roles.image)?, image),
            (input_name(r, &self.roles.detect.output_tensor)?, dets.into()),
        ];
        let out = run_one(&mut worker.sessions, r, inputs)?;
        let side = self.geometry.crop as usize;
        copy_out(r, &out, &[1, 3, side, side], &mut worker.crop)
    }

    /// Native postprocessing: best row of `worker.detections` → crop box → `worker.crop` from the u8 frame.
    fn native_crop(&self, worker: &mut Worker, frame: &[u8], width: u32, height: u32, dframe: &DetFrame) -> Result<()> {
        let g = &self.geometry;
        let b = match geometry::best_detection(&worker.detections, g.score_threshold) {
            Some(row) => {
                let r = worker.detections.get(row * 6..row * 6 + 4).unwrap_or(&[0.0; 4]);
                let (x1, y1) = dframe.original_of(r[0], r[1]);
                let (x2, y2) = dframe.original_of(r[2], r[3]);
                CropBox::ordered_clamped(x1, y1, x2, y2, width, height)
            }
            None => CropBox::full_frame(width, height),
        };
        let side = g.crop as usize;
        ensure_len(&mut worker.crop, 3 * side * side);
        cpu::crop_resize(frame, width, height, &b, g.crop, g.scale, &mut worker.crop)
    }

    /// Runs the estimator on `worker.crop`.
    fn estimate(&self, worker: &mut Worker) -> Result<f32> {
        let r = &self.roles.estimate;
        let side = self.geometry.crop as usize;
        let input = view(&r.model, &worker.crop, [1, 3, side, side])?;
        let out =
            run_one(&mut worker.sessions, r, vec![(input_name(r, &self.roles.postprocess.output_tensor)?, input)])?;
        let (_, data) = out.try_extract_tensor::<f32>().map_err(|e| Error::ort(&r.model, e))?;
        match data {
            [v] => Ok(*v),
            other => Err(Error::Tensor {
                model: r.model.clone(),
                tensor: r.output.clone(),
                expected: "one value (the oil percentage)".to_string(),
                found: format!("{} values", other.len()),
            }),
        }
    }
}

/// The rows worth reporting, mapped to original pixels.
fn typed_detections(dets: &[f32], dframe: &DetFrame, g: &Geometry, width: u32, height: u32) -> Vec<Detection> {
    dets.chunks_exact(6)
        .enumerate()
        .filter(|(_, r)| r.iter().take(5).all(|v| v.is_finite()) && r[4] >= g.score_threshold)
        .map(|(row, r)| {
            let (x1, y1) = dframe.original_of(r[0], r[1]);
            let (x2, y2) = dframe.original_of(r[2], r[3]);
            let b = CropBox::ordered_clamped(x1, y1, x2, y2, width, height);
            Detection {
                row,
                bbox: [b.x1, b.y1, b.x2, b.y2],
                letterbox_bbox: [r[0], r[1], r[2], r[3]],
                score: r[4],
                class: r[5],
            }
        })
        .collect()
}

/// Moves rows' boxes from one detector frame to another (through original pixels).
fn remap_rows(rows: &mut [f32], from: &DetFrame, to: &DetFrame) {
    for r in rows.chunks_exact_mut(6) {
        let (x1, y1) = to.letterbox_of(from.original_of(r[0], r[1]));
        let (x2, y2) = to.letterbox_of(from.original_of(r[2], r[3]));
        r[0] = x1;
        r[1] = y1;
        r[2] = x2;
        r[3] = y2;
    }
}

fn check_frame(frame: &[u8], width: u32, height: u32) -> Result<()> {
    let want = (width as usize).checked_mul(height as usize).and_then(|n| n.checked_mul(3));
    if width == 0 || height == 0 || want != Some(frame.len()) {
        return Err(Error::Image {
            path: None,
            message: format!(
                "an RGB8 frame of {width}x{height} needs {} bytes, got {}",
                want.map(|n| n.to_string()).unwrap_or_else(|| "too many".into()),
                frame.len()
            ),
            source: None,
        });
    }
    Ok(())
}

fn ensure_len(v: &mut Vec<f32>, n: usize) {
    if v.len() != n {
        v.clear();
        v.resize(n, 0.0);
    }
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return f32::INFINITY;
    }
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) })
}

fn view<'a, const N: usize>(
    model: &str,
    data: &'a [f32],
    shape: [usize; N],
) -> Result<ort::session::SessionInputValue<'a>> {
    Ok(TensorRef::from_array_view((shape, data)).map_err(|e| Error::ort(model, e))?.into_dyn().into())
}

fn input_name(r: &StepNames, tensor: &str) -> Result<String> {
    r.inputs.get(tensor).cloned().ok_or_else(|| Error::Ensemble {
        model: r.model.clone(),
        message: format!("model `{}` has no input mapped from `{tensor}`", r.model),
    })
}

fn run_one(
    sessions: &mut HashMap<String, Session>,
    r: &StepNames,
    inputs: Vec<(String, ort::session::SessionInputValue<'_>)>,
) -> Result<DynValue> {
    let s = sessions
        .get_mut(&r.model)
        .ok_or_else(|| Error::Ensemble { model: r.model.clone(), message: "no session for this model".to_string() })?;
    let mut out = s.run(inputs).map_err(|e| Error::ort(&r.model, e))?;
    out.remove(&r.output).ok_or_else(|| Error::Tensor {
        model: r.model.clone(),
        tensor: r.output.clone(),
        expected: "an output of this name".to_string(),
        found: "the session returned none".to_string(),
    })
}

fn copy_out(r: &StepNames, v: &DynValue, shape: &[usize], dst: &mut Vec<f32>) -> Result<()> {
    let (s, data) = v.try_extract_tensor::<f32>().map_err(|e| Error::ort(&r.model, e))?;
    let ok = s.len() == shape.len() && s.iter().zip(shape).all(|(&a, &b)| a as usize == b);
    if !ok {
        return Err(Error::Tensor {
            model: r.model.clone(),
            tensor: r.output.clone(),
            expected: format!("shape {shape:?}"),
            found: format!("shape {:?}", &s[..]),
        });
    }
    dst.clear();
    dst.extend_from_slice(data);
    Ok(())
}

/// Bilinear-resizes an RGB8 frame (rounding to u8), used only to compare modes on frames of another size.
fn resize_u8(frame: &[u8], w: u32, h: u32, ow: u32, oh: u32) -> Result<Vec<u8>> {
    let mut planes = vec![0f32; 3 * ow as usize * oh as usize];
    cpu::resize_to_nchw(frame, w, h, ow, oh, 1.0, &mut planes)?;
    let n = ow as usize * oh as usize;
    let mut out = vec![0u8; 3 * n];
    for (i, px) in out.chunks_exact_mut(3).enumerate() {
        for (c, v) in px.iter_mut().enumerate() {
            *v = planes.get(c * n + i).copied().unwrap_or(0.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(out)
}

/// A deterministic synthetic frame: smooth colour waves and soft blobs. Smooth on purpose: on white noise, two
/// correct f32 implementations of the crop's coordinate maths (ours and ONNX Runtime's Resize) differ by up to
/// ~5e-4 near the right edge, where one f32 step is 2.4e-4 px (docs/geometry.md).
fn probe_frame(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32, y as f32);
            let r = 128.0 + 100.0 * (fx / 157.0 + fy / 211.0).sin();
            let g = 128.0 + 90.0 * (fx / 97.0).cos() * (fy / 131.0).sin();
            let b = 128.0 + 110.0 * ((fx + fy) / 173.0).sin();
            out.extend_from_slice(&[r as u8, g as u8, b as u8]);
        }
    }
    out
}

/// Detection sets that exercise the postprocessing: the detector's own rows, and crafted rows (a central box,
/// an inverted one, one across the border, a zero-area one, and none above the threshold).
fn probe_detections(real: &[f32], lb: &Letterbox, g: &Geometry) -> Vec<Vec<f32>> {
    let side = g.letterbox as f32;
    let (top, left) = (lb.pad_top as f32, lb.pad_left as f32);
    let hi = g.score_threshold.max(0.0) + 0.5;
    let crafted = |rows: &[[f32; 6]]| -> Vec<f32> {
        let mut v = vec![0f32; real.len().max(6 * rows.len())];
        for (i, r) in rows.iter().enumerate() {
            v[i * 6..i * 6 + 6].copy_from_slice(r);
        }
        v
    };
    vec![
        real.to_vec(),
        crafted(&[[side * 0.3, top + 20.0, side * 0.6, top + 90.0, hi, 0.0]]),
        crafted(&[[side * 0.7, top + 100.0, side * 0.2, top + 10.0, hi, 1.0]]),
        crafted(&[[left - 50.0, top - 30.0, left + 100.0, top + 60.0, hi, 0.0]]),
        crafted(&[[side * 0.5, top + 50.0, side * 0.5, top + 50.0, hi, 0.0]]),
        crafted(&[[10.0, top + 10.0, 100.0, top + 100.0, g.score_threshold * 0.5, 0.0]]),
    ]
}
