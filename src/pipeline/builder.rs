//! [`PipelineBuilder`] and [`StageMode`]: the options a pipeline is built with.

use std::path::PathBuf;

use super::Pipeline;
use super::report::{BuildReport, EncodingDecision, StageDecision};
use super::roles::Roles;
use crate::convention::{InputConvention, InputEncoding};
use crate::device::{Device, GpuLibraries};
use crate::ensemble::Ensemble;
use crate::error::{Error, Result};
use crate::runtime::RuntimeOptions;
use crate::stages::resize::FrameResize;

/// How a pre- or postprocessing stage runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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

impl std::fmt::Display for StageMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StageMode::Model => "model",
            StageMode::Native => "native",
            StageMode::Auto => "auto",
        })
    }
}

impl std::str::FromStr for StageMode {
    type Err = Error;

    /// `auto`, `model` or `native` (any case), as [`StageMode`]'s `Display` writes them.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(StageMode::Auto),
            "model" => Ok(StageMode::Model),
            "native" => Ok(StageMode::Native),
            _ => Err(Error::InvalidParameter {
                name: "stage_mode",
                message: format!("takes auto, model or native, not {s:?}"),
            }),
        }
    }
}

/// Builds a [`Pipeline`]. Every option has a default; [`PipelineBuilder::build`] does the costly, fallible work.
#[derive(Clone, Debug)]
pub struct PipelineBuilder {
    repository: PathBuf,
    ensemble: Option<String>,
    load_models: Option<Vec<String>>,
    strict_model_config: bool,
    runtime: RuntimeOptions,
    preprocess: StageMode,
    postprocess: StageMode,
    pad_value: Option<f32>,
    scale: Option<f32>,
    score_threshold: Option<f32>,
    parity_tolerance: f32,
    batch_threads: usize,
    device: Device,
    gpu_libraries: GpuLibraries,
    return_crop: bool,
    input: InputConvention,
    frame_resize: FrameResize,
}

impl PipelineBuilder {
    pub(super) fn new(repository: impl Into<PathBuf>) -> Self {
        PipelineBuilder {
            repository: repository.into(),
            ensemble: None,
            load_models: None,
            strict_model_config: true,
            runtime: RuntimeOptions::default(),
            preprocess: StageMode::Auto,
            postprocess: StageMode::Auto,
            pad_value: None,
            scale: None,
            score_threshold: None,
            parity_tolerance: 1e-4,
            batch_threads: 0,
            device: Device::Auto,
            gpu_libraries: GpuLibraries::default(),
            return_crop: true,
            input: InputConvention::Auto,
            frame_resize: FrameResize::HalfPixelBilinear,
        }
    }

    /// How Model mode stretches a frame that is not the ensemble's input size to it, as this deployment's
    /// clients do (default [`FrameResize::HalfPixelBilinear`]: OpenCV's `INTER_LINEAR`, ONNX `Resize`; see
    /// [`FrameResize`]). Native mode never stretches: it letterboxes the frame at its own size.
    pub fn frame_resize(mut self, resize: FrameResize) -> Self {
        self.frame_resize = resize;
        self
    }

    /// What the ensemble input's values mean for this deployment's clients (default: settled from the
    /// repository's models at build, [`InputConvention::Auto`]; see [`crate::convention`]). Everything that
    /// builds the ensemble input from a u8 frame uses it.
    pub fn input_encoding(mut self, encoding: InputEncoding) -> Self {
        self.input = InputConvention::Fixed(encoding);
        self
    }

    /// [`PipelineBuilder::input_encoding`], or back to [`InputConvention::Auto`].
    pub fn input_convention(mut self, convention: InputConvention) -> Self {
        self.input = convention;
        self
    }

    /// The ensemble to run (default: the repository's only ensemble that no other ensemble runs as a step).
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

    /// Triton's `--strict-model-config` (default `true`, as in the guide's deployment). With `false`, as in
    /// Triton without strict model config, a model folder without `config.pbtxt`, or a config without
    /// inputs or outputs (or `platform`, or `max_batch_size`), is completed from its ONNX file the way
    /// Triton's ONNX Runtime backend does (see [`crate::repository::autocomplete`]).
    pub fn strict_model_config(mut self, strict: bool) -> Self {
        self.strict_model_config = strict;
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

    /// Threads [`Pipeline::infer_batch`] pipelines frames across, each with its own worker (default 0: the
    /// number of CPU cores, `std::thread::available_parallelism`). 1 runs the frames one after the other.
    pub fn batch_threads(mut self, n: usize) -> Self {
        self.batch_threads = n;
        self
    }

    /// Where to run (default [`Device::Auto`]: CUDA when it is usable, else the CPU; see [`crate::device`]).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// NVRTC's library `libnvrtc.so.13` (or its folder) to load before searching (see [`crate::cuda::nvrtc`];
    /// env `CLO_NVRTC_PATH`). Used only on the CUDA path.
    pub fn nvrtc_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.gpu_libraries.nvrtc = Some(path.into());
        self
    }

    /// ONNX Runtime's CUDA provider `libonnxruntime_providers_cuda.so` (or its folder) to look at first (env
    /// `CLO_ORT_CUDA_PATH`). ONNX Runtime loads it only from the folder of the loaded `libonnxruntime.so`, so
    /// this mostly makes the error say where to point [`PipelineBuilder::library_path`].
    pub fn ort_cuda_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.gpu_libraries.ort_cuda = Some(path.into());
        self
    }

    /// Whether [`Inference::crop`](crate::Inference::crop) is filled (default `true`). On a GPU the crop is
    /// then copied back every frame (3 × S × S f32: 1.7 MiB for S = 384, about 0.1 ms over PCIe 4); with
    /// `false` it stays on the device and `crop` is an empty `[1, 3, 0, 0]` array. On the CPU the crop is
    /// always returned (it is already in host memory).
    pub fn return_crop(mut self, yes: bool) -> Self {
        self.return_crop = yes;
        self
    }

    /// Loads ONNX Runtime and the repository, validates every model against its ONNX file, plans the
    /// ensemble, recognises the CLO stages, and settles each stage's mode.
    pub fn build(self) -> Result<Pipeline> {
        let ensemble = Ensemble::load(
            &self.repository,
            self.ensemble.as_deref(),
            self.load_models.clone(),
            self.strict_model_config,
            &self.runtime,
        )?;
        let roles = Roles::recognise(ensemble.plan())?;
        let mut geometry = roles.geometry(ensemble.plan())?;
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
        let name = ensemble.plan().name.clone();
        let mut pipeline = Pipeline {
            ensemble,
            roles,
            geometry,
            preprocess: self.preprocess,
            postprocess: self.postprocess,
            tolerance: self.parity_tolerance,
            encoding: InputEncoding::RGB,
            frame_resize: self.frame_resize,
            report: BuildReport {
                frame_resize: self.frame_resize,
                ensemble: name,
                device: crate::device::DeviceInfo::cpu(self.device, "not settled yet"),
                input: EncodingDecision {
                    asked: self.input,
                    settled: InputEncoding::RGB,
                    checks: Vec::new(),
                    note: "not settled yet".into(),
                },
                preprocess: StageDecision::settle(self.preprocess, None, self.parity_tolerance, "preprocess"),
                postprocess: StageDecision::settle(self.postprocess, None, self.parity_tolerance, "postprocess"),
            },
            batch_threads: match self.batch_threads {
                0 => std::thread::available_parallelism().map(usize::from).unwrap_or(1),
                n => n,
            },
            runs: Default::default(),
            device: crate::device::DeviceInfo::cpu(self.device, "not settled yet"),
            #[cfg(feature = "cuda")]
            cuda: None,
        };
        // The device first (the probes), so that Auto's parity check below runs where inference will.
        let (device, _runner) = super::cuda::select(
            self.device,
            &self.gpu_libraries,
            &pipeline.ensemble,
            &pipeline.roles,
            &pipeline.geometry,
            self.return_crop,
        )?;
        pipeline.device = device;
        #[cfg(feature = "cuda")]
        {
            pipeline.cuda = _runner;
        }
        // The input encoding on the probe frame, then the stage modes from the same measurement, on the CPU
        // sessions (the native stages are bit-identical on the GPU).
        let (input, measured) = pipeline.settle_encoding(self.input)?;
        pipeline.encoding = input.settled;
        let tol = pipeline.tolerance;
        let pre = StageDecision::settle(self.preprocess, Some(measured.letterbox), tol, "preprocess");
        let post = StageDecision::settle(self.postprocess, Some(measured.crop), tol, "postprocess");
        (pipeline.preprocess, pipeline.postprocess) = (pre.settled, post.settled);
        pipeline.report.device = pipeline.device.clone();
        pipeline.report.input = input;
        pipeline.report.preprocess = pre;
        pipeline.report.postprocess = post;
        tracing::info!(
            ensemble = %pipeline.ensemble.plan().name,
            preprocess = %pipeline.preprocess,
            postprocess = %pipeline.postprocess,
            input = %pipeline.encoding,
            device = %pipeline.device.device,
            "pipeline ready"
        );
        Ok(pipeline)
    }
}

#[cfg(test)]
mod tests {
    use super::StageMode;

    #[test]
    fn stage_mode_round_trips_through_its_text() {
        for m in [StageMode::Auto, StageMode::Model, StageMode::Native] {
            assert_eq!(m.to_string().parse::<StageMode>().unwrap(), m);
        }
        assert_eq!("NATIVE".parse::<StageMode>().unwrap(), StageMode::Native);
        let e = "fast".parse::<StageMode>().unwrap_err().to_string();
        assert!(e.contains("auto, model or native") && e.contains("fast"), "{e}");
    }
}
