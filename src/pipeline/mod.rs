//! The typed CLO pipeline: [`Pipeline`], its builder, and its result ([`Inference`]).

mod builder;
mod gpu;
mod parity;
mod result;
mod roles;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array4;
use ort::session::Session;
use ort::value::{DynValue, TensorRef};

pub use self::builder::{PipelineBuilder, StageMode};
pub use self::result::{Detection, Inference, ParityReport, StageTimings};
use self::roles::{Roles, StepNames};
use crate::device::{CudaStats, DeviceInfo};
use crate::ensemble_runner::{Ensemble, Worker};
use crate::error::{Error, Result};
use crate::ops::cpu;
use crate::ops::geometry::{self, CropBox, Geometry, Letterbox};
use crate::tensor::Tensor;

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
    /// Where the pipeline runs, and why (src/pipeline/gpu.rs settles it).
    device: DeviceInfo,
    /// The CUDA path, when `device` is CUDA.
    #[cfg(feature = "cuda")]
    cuda: Option<gpu::CudaRunner>,
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

    fn infer_with(&self, frame: &[u8], width: u32, height: u32, pre: StageMode, post: StageMode) -> Result<Inference> {
        check_frame(frame, width, height)?;
        // Device dispatch: the CUDA path (src/pipeline/gpu.rs) when the pipeline runs on a GPU.
        #[cfg(feature = "cuda")]
        if let Some(runner) = &self.cuda
            && let Some(result) = self.infer_cuda(runner, frame, width, height, pre, post)?
        {
            return Ok(result);
        }
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
