//! The batch-dimension path of [`Pipeline::infer_batch`]: several frames through one detector run and one
//! estimator run, when the models' configs allow it (`max_batch_size > 1`).
//!
//! For each chunk of frames (at most the smaller `max_batch_size` of the two networks that batch): the native
//! letterbox of every frame into one `[n, 3, T, T]` buffer, the detector on it (in groups of its own
//! `max_batch_size`; one frame per run for a network that does not batch), the native crop of every frame into
//! one `[n, 3, S, S]` buffer, the estimator on it, then each frame's typed [`Inference`], the same as
//! [`Pipeline::infer`] gives. The buffers are the worker's, grown once to the largest chunk and reused.
//!
//! Errors stay with their frame: a frame that cannot be letterboxed is left out of the batch, and a batched run
//! that fails is retried one frame at a time, so that only the frames that fail alone get an error.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ndarray::Array4;

use super::{Inference, Pipeline, StageMode, StageTimings, check_frame, to_rgb8_into};
use crate::ensemble::Worker;
use crate::error::{EnsembleErrorKind, Error, Result};
use crate::stages::letterbox::DetFrame;
use crate::stages::{crop, detect, estimate, letterbox, select};

/// How many times each network's session has run on the CPU path (see [`Pipeline::network_runs`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkRuns {
    /// Detector runs.
    pub detector: u64,
    /// Estimator runs.
    pub estimator: u64,
}

/// The counters behind [`NetworkRuns`].
#[derive(Debug, Default)]
pub(super) struct RunCounters {
    pub(super) detector: AtomicU64,
    pub(super) estimator: AtomicU64,
}

/// Frames per run of each network, and per chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BatchPlan {
    /// Frames per detector run: its `max_batch_size`, or 1 when it does not batch.
    detect: usize,
    /// Frames per estimator run.
    estimate: usize,
    /// Frames per chunk: the smaller `max_batch_size` among the networks that batch.
    chunk: usize,
}

impl Pipeline {
    /// How many times the detector and the estimator have run on the CPU path since the pipeline was built
    /// (the parity probe of [`StageMode::Auto`] included). A batched run counts once, whatever its batch size,
    /// so that this shows whether [`Pipeline::infer_batch`] used the models' batch dimension: `n` frames take
    /// `ceil(n / max_batch_size)` runs of each network instead of `n`.
    pub fn network_runs(&self) -> NetworkRuns {
        NetworkRuns {
            detector: self.runs.detector.load(Ordering::Relaxed),
            estimator: self.runs.estimator.load(Ordering::Relaxed),
        }
    }

    /// The batch plan when [`Pipeline::infer_batch`] takes the batch-dimension path: the CPU, both stages
    /// native, and the detector or the estimator with `max_batch_size > 1`.
    pub(super) fn batch_plan(&self) -> Option<BatchPlan> {
        #[cfg(feature = "cuda")]
        if self.cuda.is_some() {
            return None;
        }
        if (self.preprocess, self.postprocess) != (StageMode::Native, StageMode::Native) {
            return None;
        }
        let mbs = |model: &str| {
            let m = self.ensemble.repository().model(model).map_or(0, |m| m.config.max_batch_size);
            usize::try_from(m).unwrap_or(0)
        };
        let (d, e) = (mbs(&self.roles.detect.model), mbs(&self.roles.estimate.model));
        let chunk = [d, e].into_iter().filter(|&m| m > 1).min()?;
        Some(BatchPlan { detect: d.max(1), estimate: e.max(1), chunk })
    }

    /// [`Pipeline::infer_batch`] on the batch-dimension path, chunk by chunk, with one worker.
    pub(super) fn infer_batched(&self, images: &[image::DynamicImage], plan: BatchPlan) -> Vec<Result<Inference>> {
        let mut worker = match self.ensemble.worker() {
            Ok(w) => w,
            // Each frame then tries (and reports) on its own.
            Err(_) => return images.iter().map(|i| self.infer(i)).collect(),
        };
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(plan.chunk) {
            out.extend(self.run_chunk(&mut worker, chunk, plan));
        }
        out
    }

    /// One chunk (at most `plan.chunk` frames) through the four stages.
    fn run_chunk(
        &self,
        worker: &mut Worker,
        images: &[image::DynamicImage],
        plan: BatchPlan,
    ) -> Vec<Result<Inference>> {
        let n = images.len();
        let g = &self.geometry;
        let lb_len = 3 * g.letterbox as usize * g.letterbox as usize;
        let crop_side = g.crop as usize;
        let crop_len = 3 * crop_side * crop_side;
        let mut errors: Vec<Option<Error>> = (0..n).map(|_| None).collect();
        let mut timings = vec![StageTimings::default(); n];

        // The frames as 8-bit RGB: borrowed when they are, else converted into the worker's buffers.
        let mut rgb = std::mem::take(&mut worker.batch_rgb);
        if rgb.len() < n {
            rgb.resize_with(n, Vec::new);
        }
        for (image, buf) in images.iter().zip(rgb.iter_mut()) {
            if !matches!(image, image::DynamicImage::ImageRgb8(_)) {
                to_rgb8_into(image, buf);
            }
        }
        let frames: Vec<(&[u8], u32, u32)> = images
            .iter()
            .zip(&rgb)
            .map(|(image, buf)| match image {
                image::DynamicImage::ImageRgb8(b) => (b.as_raw().as_slice(), b.width(), b.height()),
                other => (buf.as_slice(), other.width(), other.height()),
            })
            .collect();

        // Preprocess: letterbox slot j holds frame lb_frames[j].
        grow(&mut worker.letterbox, n * lb_len);
        let mut lb_frames = Vec::with_capacity(n);
        let mut dframes = Vec::with_capacity(n);
        for (i, &(frame, w, h)) in frames.iter().enumerate() {
            let t = Instant::now();
            let j = lb_frames.len();
            let dst = worker.letterbox.get_mut(j * lb_len..(j + 1) * lb_len).unwrap_or_default();
            match check_frame(frame, w, h).and_then(|()| letterbox::cpu::letterbox(frame, w, h, g, dst)) {
                Ok(lb) => {
                    lb_frames.push(i);
                    dframes.push(DetFrame::native(lb));
                }
                Err(e) => set(&mut errors, i, e),
            }
            if let Some(t_i) = timings.get_mut(i) {
                t_i.preprocess = t.elapsed();
            }
        }

        // Detect: each letterbox slot's rows land in worker.detections[det_rows[j]].
        worker.detections.clear();
        let mut det_rows: Vec<Option<Range<usize>>> = vec![None; lb_frames.len()];
        let det_errors = in_groups(lb_frames.len(), plan.detect, |start, k| {
            let t = Instant::now();
            let input = worker.letterbox.get(start * lb_len..(start + k) * lb_len).unwrap_or_default();
            let rows = self.detect_batch(&mut worker.sessions, input, k, &mut worker.detections)?;
            for (slot, range) in det_rows.iter_mut().skip(start).zip(rows) {
                *slot = Some(range);
            }
            share(&mut timings, &lb_frames, start, k, t.elapsed(), |t| &mut t.detect);
            Ok(())
        });
        for (j, e) in det_errors.into_iter().enumerate() {
            if let (Some(e), Some(&i)) = (e, lb_frames.get(j)) {
                set(&mut errors, i, e);
            }
        }

        // Postprocess: typed detections, best box, native crop into crop slot m (frame crop_frames[m]).
        grow(&mut worker.crop, n * crop_len);
        let mut results: Vec<Option<Inference>> = (0..n).map(|_| None).collect();
        let mut crop_frames = Vec::with_capacity(n);
        for (j, (&i, dframe)) in lb_frames.iter().zip(&dframes).enumerate() {
            let Some(Some(rows)) = det_rows.get(j) else { continue };
            let Some(&(frame, w, h)) = frames.get(i) else { continue };
            let t = Instant::now();
            let dets = worker.detections.get(rows.clone()).unwrap_or_default();
            let mut out = Inference::default();
            let chosen = select::typed_detections(dets, dframe, g, w, h, &mut out.detections);
            (out.best, out.crop_box, out.degenerate) = (chosen.best, chosen.crop_box, chosen.degenerate);
            let b = crop::best_box(dets, g.score_threshold, dframe, w, h);
            let m = crop_frames.len();
            let dst = worker.crop.get_mut(m * crop_len..(m + 1) * crop_len).unwrap_or_default();
            match crop::cpu::crop_resize(frame, w, h, &b, g.crop, g.scale, dst) {
                Ok(()) => {
                    crop_frames.push(i);
                    out.frame_size = (w, h);
                    out.modes = (StageMode::Native, StageMode::Native);
                    if let Some(r) = results.get_mut(i) {
                        *r = Some(out);
                    }
                }
                Err(e) => set(&mut errors, i, e),
            }
            if let Some(t_i) = timings.get_mut(i) {
                t_i.postprocess = t.elapsed();
            }
        }

        // Estimate: one value per crop slot.
        let mut oil: Vec<Option<f32>> = vec![None; crop_frames.len()];
        let est_errors = in_groups(crop_frames.len(), plan.estimate, |start, k| {
            let t = Instant::now();
            let input = worker.crop.get(start * crop_len..(start + k) * crop_len).unwrap_or_default();
            let values = self.estimate_batch(&mut worker.sessions, input, k)?;
            for (slot, v) in oil.iter_mut().skip(start).zip(values) {
                *slot = Some(v);
            }
            share(&mut timings, &crop_frames, start, k, t.elapsed(), |t| &mut t.estimate);
            Ok(())
        });
        for (m, e) in est_errors.into_iter().enumerate() {
            if let (Some(e), Some(&i)) = (e, crop_frames.get(m)) {
                set(&mut errors, i, e);
            }
        }

        // The crops into each frame's result.
        for (m, &i) in crop_frames.iter().enumerate() {
            let (Some(Some(out)), Some(Some(v))) = (results.get_mut(i), oil.get(m)) else { continue };
            let crop = worker.crop.get(m * crop_len..(m + 1) * crop_len).unwrap_or_default();
            match Array4::from_shape_vec((1, 3, crop_side, crop_side), crop.to_vec()) {
                Ok(a) => out.crop = a,
                Err(e) => {
                    set(
                        &mut errors,
                        i,
                        Error::Tensor {
                            model: self.roles.postprocess.model.clone(),
                            tensor: self.roles.postprocess.output.clone(),
                            expected: format!("[1,3,{crop_side},{crop_side}]"),
                            found: e.to_string(),
                        },
                    );
                    continue;
                }
            }
            out.oil_pct = *v;
        }
        drop(frames);
        worker.batch_rgb = rgb;

        errors
            .into_iter()
            .zip(results)
            .zip(timings)
            .map(|((e, r), mut t)| match (e, r) {
                (Some(e), _) => Err(e),
                (None, Some(mut out)) => {
                    t.total = t.preprocess + t.detect + t.postprocess + t.estimate;
                    out.timings = t;
                    Ok(out)
                }
                (None, None) => Err(Error::Ensemble {
                    model: self.ensemble.plan().name.clone(),
                    kind: EnsembleErrorKind::Internal,
                    message: "the batch left this frame without a result".to_string(),
                }),
            })
            .collect()
    }

    /// One detector run on `k` letterboxes (`input`, `[k, 3, T, T]`); appends the rows to `dets` and returns
    /// each frame's range in it.
    fn detect_batch(
        &self,
        sessions: &mut std::collections::HashMap<String, ort::session::Session>,
        input: &[f32],
        k: usize,
        dets: &mut Vec<f32>,
    ) -> Result<Vec<Range<usize>>> {
        let r = &self.roles.detect;
        let side = self.geometry.letterbox as usize;
        let declared = self.declared_output_shape(r);
        let tensor = &self.roles.preprocess.output_tensor;
        detect::cpu::detect_batch(sessions, r, &self.runs.detector, tensor, input, k, side, declared, dets)
    }

    /// One estimator run on `k` crops (`input`, `[k, 3, S, S]`): one value per frame.
    fn estimate_batch(
        &self,
        sessions: &mut std::collections::HashMap<String, ort::session::Session>,
        input: &[f32],
        k: usize,
    ) -> Result<Vec<f32>> {
        let side = self.geometry.crop as usize;
        let tensor = &self.roles.postprocess.output_tensor;
        estimate::cpu::estimate_batch(sessions, &self.roles.estimate, &self.runs.estimator, tensor, input, k, side)
    }
}

/// Runs `run(start, k)` over `0..total` in groups of at most `group` items. A group that fails is retried one
/// item at a time, so that an error stays with the item that causes it. Returns each item's error.
fn in_groups(total: usize, group: usize, mut run: impl FnMut(usize, usize) -> Result<()>) -> Vec<Option<Error>> {
    let mut errors: Vec<Option<Error>> = (0..total).map(|_| None).collect();
    let group = group.max(1);
    let mut start = 0;
    while start < total {
        let k = group.min(total - start);
        if let Err(e) = run(start, k) {
            if k == 1 {
                set(&mut errors, start, e);
            } else {
                tracing::debug!(error = %e, frames = k, "a batched run failed; retrying its frames one by one");
                for s in start..start + k {
                    if let Err(e) = run(s, 1) {
                        set(&mut errors, s, e);
                    }
                }
            }
        }
        start += k;
    }
    errors
}

/// Gives each of the `k` frames from slot `start` (frames `slots[start..]`) an equal share of a batched run's time.
fn share(
    timings: &mut [StageTimings],
    slots: &[usize],
    start: usize,
    k: usize,
    took: Duration,
    field: fn(&mut StageTimings) -> &mut Duration,
) {
    let each = took / u32::try_from(k.max(1)).unwrap_or(u32::MAX);
    for &i in slots.iter().skip(start).take(k) {
        if let Some(t) = timings.get_mut(i) {
            *field(t) = each;
        }
    }
}

fn set(errors: &mut [Option<Error>], i: usize, e: Error) {
    if let Some(slot) = errors.get_mut(i) {
        *slot = Some(e);
    }
}

/// Grows `v` to at least `n` values (never shrinks it: the batch buffers grow once to the largest chunk).
fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}
