//! The typed CLO pipeline: [`Pipeline`], its builder, and its result ([`Inference`]).

mod batch;
mod builder;
mod cuda;
mod parity;
mod report;
mod result;
mod roles;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ndarray::Array4;
use ort::value::{DynValue, TensorRef};
use rayon::prelude::*;

pub use self::batch::NetworkRuns;
pub use self::builder::{PipelineBuilder, StageMode};
pub use self::report::{BuildReport, EncodingDecision, StageDecision};
pub use self::result::{Inference, ParityReport, StageTimings};
use self::roles::Roles;
use crate::convention::InputEncoding;
use crate::device::{CudaStats, DeviceInfo};
use crate::ensemble::{Ensemble, StepNames, Worker};
use crate::error::{EnsembleErrorKind, Error, Result};
use crate::stages::Geometry;
use crate::stages::letterbox::DetFrame;
use crate::stages::resize::FrameResize;
use crate::stages::{crop, detect, estimate, letterbox, resize, select};
use crate::tensor::{Tensor, view};

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
    /// What the ensemble input holds (settled at build: src/pipeline/parity.rs).
    encoding: InputEncoding,
    /// How Model mode stretches a frame of another size to the model's input size.
    frame_resize: FrameResize,
    /// Every decision the build made, with its evidence.
    report: BuildReport,
    batch_threads: usize,
    /// Detector and estimator runs on the CPU path ([`Pipeline::network_runs`]).
    runs: batch::RunCounters,
    /// Where the pipeline runs, and why (src/pipeline/cuda.rs settles it).
    device: DeviceInfo,
    /// The CUDA path, when `device` is CUDA.
    #[cfg(feature = "cuda")]
    cuda: Option<cuda::CudaRunner>,
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

    /// What the ensemble input's values mean for this deployment (settled at build, or given): what Model mode,
    /// the parity check and the CUDA path put in the ensemble input for a u8 frame (see
    /// [`crate::convention`]).
    pub fn input_encoding(&self) -> InputEncoding {
        self.encoding
    }

    /// Every decision the build made (device, input encoding, stage modes, fallbacks) with its evidence;
    /// `Display` writes it for a person.
    pub fn report(&self) -> &BuildReport {
        &self.report
    }

    /// Where the pipeline runs ([`Device::Cpu`](crate::Device::Cpu) or [`Device::Cuda`](crate::Device::Cuda)),
    /// and why: each probe's outcome (see [`crate::device`]).
    pub fn device(&self) -> &DeviceInfo {
        &self.device
    }

    /// Host↔device copies and device allocations of the CUDA path so far; `None` on the CPU.
    pub fn cuda_stats(&self) -> Option<CudaStats> {
        #[cfg(feature = "cuda")]
        if let Some(runner) = &self.cuda {
            return Some(runner.stats());
        }
        None
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

    /// Runs the pipeline on a decoded image (converted to 8-bit RGB first when it is not, into a buffer the
    /// worker keeps, so that no conversion buffer is allocated per frame after the first).
    pub fn infer(&self, image: &image::DynamicImage) -> Result<Inference> {
        let mut out = Inference::default();
        self.infer_into(image, &mut out)?;
        Ok(out)
    }

    /// Runs the pipeline on a raw 8-bit RGB frame, row-major HWC, `width * height * 3` bytes, any size.
    pub fn infer_rgb8(&self, frame: &[u8], width: u32, height: u32) -> Result<Inference> {
        self.infer_with(frame, width, height, self.preprocess, self.postprocess)
    }

    /// [`Pipeline::infer`] into `out`, reusing its buffers (the detections `Vec` and the crop array): after the
    /// first frame, a loop that passes the same `out` allocates no frame- or crop-sized buffer per frame. On
    /// error `out` holds unspecified (but valid) values.
    pub fn infer_into(&self, image: &image::DynamicImage, out: &mut Inference) -> Result<()> {
        if let image::DynamicImage::ImageRgb8(rgb) = image {
            return self.infer_rgb8_into(rgb.as_raw(), rgb.width(), rgb.height(), out);
        }
        let (width, height) = (image.width(), image.height());
        let mut worker = self.ensemble.worker()?;
        let mut rgb = std::mem::take(&mut worker.rgb);
        to_rgb8_into(image, &mut rgb);
        let (pre, post) = (self.preprocess, self.postprocess);
        let r =
            check_frame(&rgb, width, height).and_then(|()| match self.try_cuda(&rgb, width, height, pre, post)? {
                Some(result) => {
                    *out = result;
                    Ok(())
                }
                None => self.run_frame(&mut worker, &rgb, width, height, pre, post, out),
            });
        worker.rgb = rgb;
        r
    }

    /// [`Pipeline::infer_rgb8`] into `out`, reusing its buffers (see [`Pipeline::infer_into`]).
    pub fn infer_rgb8_into(&self, frame: &[u8], width: u32, height: u32, out: &mut Inference) -> Result<()> {
        check_frame(frame, width, height)?;
        if let Some(result) = self.try_cuda(frame, width, height, self.preprocess, self.postprocess)? {
            *out = result;
            return Ok(());
        }
        let mut worker = self.ensemble.worker()?;
        self.run_frame(&mut worker, frame, width, height, self.preprocess, self.postprocess, out)
    }

    /// Runs the pipeline on several frames; the results are in the frames' order, one per frame (an error in
    /// one frame does not fail the others).
    ///
    /// When the detector's or the estimator's config allows batching (`max_batch_size > 1`, a dynamic leading
    /// dimension in the ONNX file) and both stages are [`StageMode::Native`] on the CPU, frames go through the
    /// models' batch dimension: chunks of up to the smaller `max_batch_size` of the networks that batch, each
    /// letterboxed into one `[n, 3, T, T]` tensor, one detector run, each cropped into one `[n, 3, S, S]`
    /// tensor, one estimator run (a network that does not batch runs once per frame). Each result equals
    /// [`Pipeline::infer`]'s on the same frame; its `detect` and `estimate` timings are the batched run's time
    /// divided by the frames in it, its `total` the sum of its four stages. [`Pipeline::network_runs`] counts
    /// the runs.
    ///
    /// Otherwise (the models take one frame per call: `max_batch_size: 0` and a leading dimension of 1, as in
    /// the CLO repository), frames are pipelined across [`PipelineBuilder::batch_threads`] threads, each with
    /// its own worker (sessions and buffers, created on first use and kept in the pool): while one frame is in
    /// a network another is in the native stages or the other network. With one thread (or one frame) this is
    /// [`Pipeline::infer`] in a loop.
    pub fn infer_batch(&self, images: &[image::DynamicImage]) -> Vec<Result<Inference>> {
        if let Some(plan) = self.batch_plan() {
            return self.infer_batched(images, plan);
        }
        let threads = self.batch_threads.min(images.len());
        if threads <= 1 {
            return images.iter().map(|i| self.infer(i)).collect();
        }
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<Result<Inference>>> = images.iter().map(|_| None).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(image) = images.get(i) else { break };
                            done.push((i, self.infer(image)));
                        }
                        done
                    })
                })
                .collect();
            for h in handles {
                // A thread that panicked leaves its frames' slots empty; they become errors below.
                for (i, r) in h.join().unwrap_or_default() {
                    if let Some(slot) = slots.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            }
        });
        slots
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::Ensemble {
                        model: self.ensemble.plan().name.clone(),
                        kind: EnsembleErrorKind::Internal,
                        message: "the thread running this frame panicked".to_string(),
                    })
                })
            })
            .collect()
    }

    /// The CUDA path's result when the pipeline runs on a GPU and takes this frame (src/pipeline/cuda.rs);
    /// `None`: run the CPU path.
    fn try_cuda(
        &self,
        frame: &[u8],
        width: u32,
        height: u32,
        pre: StageMode,
        post: StageMode,
    ) -> Result<Option<Inference>> {
        #[cfg(feature = "cuda")]
        if let Some(runner) = &self.cuda {
            // The GPU resizes with the half-pixel kernel only: a Pillow-stretched frame is built on the CPU path.
            let stretch = (width, height) != self.geometry.model_input
                && (pre == StageMode::Model || post == StageMode::Model)
                && self.frame_resize == FrameResize::PillowBilinear;
            if !stretch {
                return self.infer_cuda(runner, frame, width, height, pre, post);
            }
        }
        let _ = (frame, width, height, pre, post);
        Ok(None)
    }

    fn infer_with(&self, frame: &[u8], width: u32, height: u32, pre: StageMode, post: StageMode) -> Result<Inference> {
        check_frame(frame, width, height)?;
        if let Some(result) = self.try_cuda(frame, width, height, pre, post)? {
            return Ok(result);
        }
        let mut out = Inference::default();
        let mut worker = self.ensemble.worker()?;
        self.run_frame(&mut worker, frame, width, height, pre, post, &mut out)?;
        Ok(out)
    }

    /// One frame through the four stages with `worker`'s sessions and buffers, into `out` (its buffers reused).
    #[allow(clippy::too_many_arguments)]
    fn run_frame(
        &self,
        worker: &mut Worker,
        frame: &[u8],
        width: u32,
        height: u32,
        pre: StageMode,
        post: StageMode,
        out: &mut Inference,
    ) -> Result<()> {
        let t0 = Instant::now();
        let g = &self.geometry;
        let mut timings = StageTimings::default();
        // Preprocess.
        let t = Instant::now();
        let dframe = if pre == StageMode::Model {
            self.model_letterbox(worker, frame, width, height, &self.encoding)?;
            DetFrame::model_input(g, width, height)?
        } else {
            ensure_len(&mut worker.letterbox, 3 * g.letterbox as usize * g.letterbox as usize);
            DetFrame::native(letterbox::cpu::letterbox(frame, width, height, g, &mut worker.letterbox)?)
        };
        timings.preprocess = t.elapsed();
        // Detect: the rows land in `worker.detections`.
        let t = Instant::now();
        self.detect(worker)?;
        timings.detect = t.elapsed();
        // Postprocess.
        let t = Instant::now();
        let chosen = select::typed_detections(&worker.detections, &dframe, g, width, height, &mut out.detections);
        if post == StageMode::Model {
            // The postprocessing model sees detections in the letterbox of the model-size frame.
            let mframe = DetFrame::model_input(g, width, height)?;
            if pre != StageMode::Model {
                dframe.remap_rows(&mut worker.detections, &mframe);
            }
            self.model_crop(worker, frame, width, height, (pre != StageMode::Model).then_some(&self.encoding))?;
        } else {
            self.native_crop(worker, frame, width, height, &dframe)?;
        }
        timings.postprocess = t.elapsed();
        // Estimate.
        let t = Instant::now();
        let oil_pct = self.estimate(worker)?;
        timings.estimate = t.elapsed();
        let s = g.crop as usize;
        let same_shape = out.crop.dim() == (1, 3, s, s);
        match out.crop.as_slice_mut() {
            Some(dst) if same_shape && dst.len() == worker.crop.len() => dst.copy_from_slice(&worker.crop),
            _ => {
                out.crop = Array4::from_shape_vec((1, 3, s, s), worker.crop.clone()).map_err(|e| Error::Tensor {
                    model: self.roles.postprocess.model.clone(),
                    tensor: self.roles.postprocess.output.clone(),
                    expected: format!("[1,3,{s},{s}]"),
                    found: e.to_string(),
                })?
            }
        }
        timings.total = t0.elapsed();
        out.best = chosen.best;
        out.degenerate = chosen.degenerate;
        out.oil_pct = oil_pct;
        out.crop_box = chosen.crop_box;
        out.frame_size = (width, height);
        out.modes = (pre, post);
        out.timings = timings;
        Ok(())
    }

    /// Model-mode preprocessing: frame → f32 model input in `encoding` → preprocessing model → `worker.letterbox`.
    fn model_letterbox(
        &self,
        worker: &mut Worker,
        frame: &[u8],
        width: u32,
        height: u32,
        encoding: &InputEncoding,
    ) -> Result<()> {
        self.frame_tensor(worker, frame, width, height, encoding)?;
        let (mw, mh) = self.geometry.model_input;
        let r = &self.roles.preprocess;
        let input = view(&r.model, &worker.frame_f32, [1, 3, mh as usize, mw as usize])?;
        let out = r.run(&mut worker.sessions, vec![(r.input_name(&self.roles.image)?, input)])?;
        let side = self.geometry.letterbox as usize;
        copy_out(r, &out, &[1, 3, side, side], &mut worker.letterbox)
    }

    /// Fills `worker.frame_f32` with the frame as the ensemble input in `encoding` (f32 NCHW, resized to the
    /// model's input size).
    fn frame_tensor(
        &self,
        worker: &mut Worker,
        frame: &[u8],
        width: u32,
        height: u32,
        encoding: &InputEncoding,
    ) -> Result<()> {
        let (mw, mh) = self.geometry.model_input;
        ensure_len(&mut worker.frame_f32, 3 * mw as usize * mh as usize);
        if self.frame_resize == FrameResize::PillowBilinear && (width, height) != (mw, mh) {
            // Stretched as PIL does (u8), then encoded at equal size (a plain copy).
            worker.stretched.resize(3 * mw as usize * mh as usize, 0);
            let (rows, out) = (&mut worker.stretch_rows, &mut worker.stretched);
            resize::cpu::pillow_bilinear(frame, width, height, mw, mh, rows, out)?;
            return resize::cpu::resize_to_nchw(&worker.stretched, mw, mh, mw, mh, encoding, &mut worker.frame_f32);
        }
        resize::cpu::resize_to_nchw(frame, width, height, mw, mh, encoding, &mut worker.frame_f32)
    }

    /// Runs the detector on `worker.letterbox`; its rows (flattened, 6 per row) replace `worker.detections`.
    fn detect(&self, worker: &mut Worker) -> Result<()> {
        let r = &self.roles.detect;
        let side = self.geometry.letterbox as usize;
        let declared = self.declared_output_shape(r);
        let input = &self.roles.preprocess.output_tensor;
        let runs = &self.runs.detector;
        detect::cpu::detect(
            &mut worker.sessions,
            r,
            runs,
            input,
            &worker.letterbox,
            side,
            declared,
            &mut worker.detections,
        )
    }

    /// The shape a step's output has in its config (`-1` for a dynamic dim), as the plan recorded it at load.
    fn declared_output_shape(&self, r: &StepNames) -> Option<&[i64]> {
        self.ensemble.plan().tensors.get(&r.output_tensor).map(|(_, shape)| shape.as_slice())
    }

    /// Model-mode postprocessing on `worker.detections` → `worker.crop`. `build`: the encoding to build
    /// `worker.frame_f32` in first; `None` when it already holds this frame (Model-mode preprocessing built it).
    fn model_crop(
        &self,
        worker: &mut Worker,
        frame: &[u8],
        width: u32,
        height: u32,
        build: Option<&InputEncoding>,
    ) -> Result<()> {
        if let Some(e) = build {
            self.frame_tensor(worker, frame, width, height, e)?;
        }
        let (mw, mh) = self.geometry.model_input;
        let r = &self.roles.postprocess;
        let rows = worker.detections.len() / 6;
        let image = view(&r.model, &worker.frame_f32, [1, 3, mh as usize, mw as usize])?;
        let dets =
            TensorRef::from_array_view(([1usize, rows, 6], worker.detections.get(..rows * 6).unwrap_or_default()))
                .map_err(|e| Error::ort(&r.model, e))?
                .into_dyn();
        let inputs: Vec<(&str, ort::session::SessionInputValue<'_>)> = vec![
            (r.input_name(&self.roles.image)?, image),
            (r.input_name(&self.roles.detect.output_tensor)?, dets.into()),
        ];
        let out = r.run(&mut worker.sessions, inputs)?;
        let side = self.geometry.crop as usize;
        copy_out(r, &out, &[1, 3, side, side], &mut worker.crop)
    }

    /// Native postprocessing: best row of `worker.detections` → crop box → `worker.crop` from the u8 frame.
    fn native_crop(&self, worker: &mut Worker, frame: &[u8], width: u32, height: u32, dframe: &DetFrame) -> Result<()> {
        let g = &self.geometry;
        let b = crop::best_box(&worker.detections, g.score_threshold, dframe, width, height);
        let side = g.crop as usize;
        ensure_len(&mut worker.crop, 3 * side * side);
        crop::cpu::crop_resize(frame, width, height, &b, g.crop, g.scale, &mut worker.crop)
    }

    /// Runs the estimator on `worker.crop`.
    fn estimate(&self, worker: &mut Worker) -> Result<f32> {
        let r = &self.roles.estimate;
        let side = self.geometry.crop as usize;
        let input = &self.roles.postprocess.output_tensor;
        estimate::cpu::estimate(&mut worker.sessions, r, &self.runs.estimator, input, &worker.crop, side)
    }
}

/// `image` as 8-bit RGB, row-major HWC, into `dst` (its capacity reused). The common 8-bit layouts are converted
/// in place, in parallel over rows, as `DynamicImage::to_rgb8` converts them (alpha dropped, grey replicated);
/// the others (16-bit, float) go through `to_rgb8`.
fn to_rgb8_into(image: &image::DynamicImage, dst: &mut Vec<u8>) {
    use image::DynamicImage as D;
    let n = image.width() as usize * image.height() as usize;
    let (src, px): (&[u8], usize) = match image {
        D::ImageRgb8(b) => (b.as_raw(), 3),
        D::ImageRgba8(b) => (b.as_raw(), 4),
        D::ImageLuma8(b) => (b.as_raw(), 1),
        D::ImageLumaA8(b) => (b.as_raw(), 2),
        other => {
            *dst = other.to_rgb8().into_raw();
            return;
        }
    };
    dst.resize(n * 3, 0);
    let row = (image.width() as usize).max(1);
    dst.par_chunks_mut(row * 3).zip(src.par_chunks(row * px)).for_each(|(d, s)| {
        for (d, s) in d.chunks_exact_mut(3).zip(s.chunks_exact(px)) {
            match *s {
                [r, g, b, ..] => d.copy_from_slice(&[r, g, b]),
                [l, ..] => d.copy_from_slice(&[l, l, l]),
                [] => {}
            }
        }
    });
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
