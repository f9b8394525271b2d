//! Native stages against the repository's models: the parity report, and the probe frames `Auto` uses.

use std::borrow::Cow;

use super::{ParityReport, Pipeline, StageMode, check_frame, max_abs};
use crate::error::Result;
use crate::stages::letterbox::DetFrame;
use crate::stages::{Geometry, Letterbox};
use crate::stages::{letterbox, resize};

impl Pipeline {
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
        // The stage comparisons on one worker, given back at the end of the block, before the two full runs
        // below take one again.
        let (lb_diff, det_diff, crop_diff) = {
            let mut worker = self.ensemble.worker()?;
            // Letterbox: both from the same frame at the model's input size.
            let frame_m: Cow<'_, [u8]> = if (width, height) == (mw, mh) {
                Cow::Borrowed(frame)
            } else {
                Cow::Owned(resize_u8(frame, width, height, mw, mh)?)
            };
            let side = g.letterbox as usize;
            let mut native_lb = vec![0f32; 3 * side * side];
            letterbox::cpu::letterbox(&frame_m, mw, mh, g, &mut native_lb)?;
            self.model_letterbox(&mut worker, &frame_m, mw, mh)?;
            let lb_diff = max_abs(&native_lb, &worker.letterbox);
            // Detections from each letterbox.
            self.detect(&mut worker)?;
            let det_model = worker.detections.clone();
            worker.letterbox.copy_from_slice(&native_lb);
            self.detect(&mut worker)?;
            let det_native = worker.detections.clone();
            let det_diff = max_abs(&det_model, &det_native);
            // Crop from the same detections (the model's), plus crafted rows that exercise the mapping.
            let lbm = Letterbox::new(mw, mh, g.letterbox)?;
            let dframe = DetFrame::native(lbm);
            let mut crop_diff = 0f32;
            for dets in probe_detections(&det_model, &lbm, g) {
                worker.detections.clear();
                worker.detections.extend_from_slice(&dets);
                self.model_crop(&mut worker, &frame_m, mw, mh, true)?;
                let model_crop = worker.crop.clone();
                self.native_crop(&mut worker, &frame_m, mw, mh, &dframe)?;
                crop_diff = crop_diff.max(max_abs(&model_crop, &worker.crop));
            }
            (lb_diff, det_diff, crop_diff)
        };
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
}

/// Bilinear-resizes an RGB8 frame (rounding to u8), used only to compare modes on frames of another size.
fn resize_u8(frame: &[u8], w: u32, h: u32, ow: u32, oh: u32) -> Result<Vec<u8>> {
    let mut planes = vec![0f32; 3 * ow as usize * oh as usize];
    resize::cpu::resize_to_nchw(frame, w, h, ow, oh, 1.0, &mut planes)?;
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
pub(super) fn probe_frame(w: u32, h: u32) -> Vec<u8> {
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
        for (dst, r) in v.chunks_exact_mut(6).zip(rows) {
            dst.copy_from_slice(r);
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
