//! Native stages against the repository's models: the parity report, the probe frames `Auto` uses, and how
//! the build settles the input encoding from the same comparison (src/convention.rs).

use std::borrow::Cow;

use super::report::EncodingDecision;
use super::{ParityReport, Pipeline, StageMode, check_frame, max_abs};
use crate::convention::{EncodingCheck, InputConvention, InputEncoding};
use crate::ensemble::Worker;
use crate::error::{Error, Result};
use crate::stages::letterbox::DetFrame;
use crate::stages::{Geometry, Letterbox};
use crate::stages::{letterbox, resize};

/// How far (on the native letterbox's full scale, `255 * |scale|`) the closest candidate encoding may be from
/// the native stage and still be the deployment's convention when none is within the parity tolerance (a
/// repository whose preprocessing resizes a little differently): a wrong scale is off by about the full scale,
/// a wrong channel order on the probe frame by more than half of it.
const CONVENTION_TOLERANCE: f32 = 0.05;

/// How many times further than the closest every other candidate must be for the closest to be settled
/// when it is not within the parity tolerance.
const CONVENTION_MARGIN: f32 = 4.0;

/// `d <= bound`, false for NaN (a measurement that failed is not within anything).
fn within(d: f32, bound: f32) -> bool {
    d <= bound
}

/// What [`Pipeline::measure`] finds on one frame at the model's input size.
pub(super) struct Measured {
    pub(super) letterbox: f32,
    pub(super) detections: f32,
    pub(super) crop: f32,
}

impl Pipeline {
    /// Runs both the native stages and the repository's models on `image` and reports how far apart they are
    /// (the models fed the frame in the settled input encoding).
    pub fn parity(&self, image: &image::DynamicImage) -> Result<ParityReport> {
        let rgb = image.to_rgb8();
        self.parity_rgb8(rgb.as_raw(), rgb.width(), rgb.height())
    }

    /// [`Pipeline::parity`] on a raw 8-bit RGB frame.
    pub fn parity_rgb8(&self, frame: &[u8], width: u32, height: u32) -> Result<ParityReport> {
        check_frame(frame, width, height)?;
        let (mw, mh) = self.geometry.model_input;
        // Both from the same frame at the model's input size.
        let frame_m: Cow<'_, [u8]> = if (width, height) == (mw, mh) {
            Cow::Borrowed(frame)
        } else {
            Cow::Owned(resize_u8(frame, width, height, mw, mh)?)
        };
        let m = self.measure(&frame_m, &self.encoding)?;
        let a = self.infer_with(frame, width, height, StageMode::Model, StageMode::Model)?;
        let b = self.infer_with(frame, width, height, StageMode::Native, StageMode::Native)?;
        Ok(ParityReport {
            frame_size: (width, height),
            letterbox_max_abs: m.letterbox,
            crop_max_abs: m.crop,
            detections_max_abs: m.detections,
            oil_abs: (a.oil_pct - b.oil_pct).abs(),
            same_best_row: a.best_detection().map(|d| d.row) == b.best_detection().map(|d| d.row),
            tolerance: self.tolerance,
        })
    }

    /// The native stages against the repository's models on `frame` (at the model's input size), the models
    /// fed it in `encoding`: the letterbox, the detector's output on each letterbox, and the crop on the
    /// model's detections plus crafted rows that exercise the box mapping.
    pub(super) fn measure(&self, frame: &[u8], encoding: &InputEncoding) -> Result<Measured> {
        let g = &self.geometry;
        let (mw, mh) = g.model_input;
        let mut worker = self.ensemble.worker()?;
        let native_lb = self.native_letterbox(frame)?;
        self.model_letterbox(&mut worker, frame, mw, mh, encoding)?;
        let letterbox = max_abs(&native_lb, &worker.letterbox);
        // The detector on each letterbox. A detector whose output breaks its config fails every frame with
        // a typed error at inference, as in Triton; here only its rows are missing from the crop probes.
        let (detections, det_model) = match self.detect(&mut worker) {
            Ok(()) => {
                let det_model = worker.detections.clone();
                worker.letterbox.copy_from_slice(&native_lb);
                self.detect(&mut worker)?;
                (max_abs(&det_model, &worker.detections), det_model)
            }
            Err(e) => {
                tracing::debug!(error = %e, "parity probe: the detector failed; crop probes without its rows");
                (f32::NAN, Vec::new())
            }
        };
        // `worker.frame_f32` holds the frame in `encoding` (model_letterbox built it).
        let crop = self.crop_diff(&mut worker, frame, None, &det_model)?;
        Ok(Measured { letterbox, detections, crop })
    }

    /// The native letterbox of `frame` (at the model's input size).
    fn native_letterbox(&self, frame: &[u8]) -> Result<Vec<f32>> {
        let g = &self.geometry;
        let side = g.letterbox as usize;
        let mut native_lb = vec![0f32; 3 * side * side];
        letterbox::cpu::letterbox(frame, g.model_input.0, g.model_input.1, g, &mut native_lb)?;
        Ok(native_lb)
    }

    /// Max |postprocessing model − native crop| on `frame` in `encoding` (`None`: `worker.frame_f32` already
    /// holds it), over `real` detections and the crafted probe rows.
    fn crop_diff(
        &self,
        worker: &mut Worker,
        frame: &[u8],
        encoding: Option<&InputEncoding>,
        real: &[f32],
    ) -> Result<f32> {
        let g = &self.geometry;
        let (mw, mh) = g.model_input;
        let lbm = Letterbox::new(mw, mh, g.letterbox)?;
        let dframe = DetFrame::native(lbm);
        if let Some(e) = encoding {
            self.frame_tensor(worker, frame, mw, mh, e)?;
        }
        let mut diff = 0f32;
        // The crafted rows fill a tensor of the detector's declared rows (what the postprocessing model takes).
        let rows = match real.len() / 6 {
            0 => self
                .declared_output_shape(&self.roles.detect)
                .map_or(1, |s| (s.iter().product::<i64>().unsigned_abs() as usize / 6).max(1)),
            n => n,
        };
        for dets in probe_detections(real, rows, &lbm, g) {
            worker.detections.clear();
            worker.detections.extend_from_slice(&dets);
            self.model_crop(worker, frame, mw, mh, None)?;
            let model_crop = worker.crop.clone();
            self.native_crop(worker, frame, mw, mh, &dframe)?;
            diff = diff.max(max_abs(&model_crop, &worker.crop));
        }
        Ok(diff)
    }

    /// Settles what the ensemble input's values mean (see [`InputConvention`]) on the probe frame, and measures
    /// the stages under it: returns the decision and the measurement the stage modes are settled from.
    pub(super) fn settle_encoding(&self, asked: InputConvention) -> Result<(EncodingDecision, Measured)> {
        let g = &self.geometry;
        let (mw, mh) = g.model_input;
        let probe = probe_frame(mw, mh);
        let native_lb = self.native_letterbox(&probe)?;
        // How far each candidate's preprocessing output is from the native letterbox.
        let letterbox_diff = |e: &InputEncoding| -> Result<f32> {
            let mut worker = self.ensemble.worker()?;
            self.model_letterbox(&mut worker, &probe, mw, mh, e)?;
            Ok(max_abs(&native_lb, &worker.letterbox))
        };
        let full = 255.0 * g.scale.abs();
        let gross = CONVENTION_TOLERANCE * full;
        let check = |e: InputEncoding| -> Result<EncodingCheck> {
            Ok(EncodingCheck { encoding: e, letterbox_max_abs: letterbox_diff(&e)?, crop_max_abs: None })
        };
        let (settled, mut checks, mut note) = match asked {
            InputConvention::Fixed(e) => {
                e.validate()?;
                let mine = check(e)?;
                let mut checks = vec![mine.clone()];
                let mut note = "given".to_string();
                if !within(mine.letterbox_max_abs, gross) {
                    // Kept (it was asked for), but say loudly if another convention is what the models expect.
                    for c in InputEncoding::CANDIDATES.into_iter().filter(|c| *c != e) {
                        checks.push(check(c)?);
                    }
                    if let Some(better) = checks.iter().skip(1).find(|c| c.letterbox_max_abs <= gross) {
                        note = format!(
                            "given, but the repository's preprocessing model matches the native letterbox under {} \
                             ({:.2e}), not under {e} ({:.2e}): its clients probably send {}",
                            better.encoding, better.letterbox_max_abs, mine.letterbox_max_abs, better.encoding
                        );
                        tracing::warn!(given = %e, likely = %better.encoding, "{note}");
                    }
                }
                (e, checks, note)
            }
            InputConvention::Auto => {
                let checks =
                    InputEncoding::CANDIDATES.into_iter().map(check).collect::<Result<Vec<EncodingCheck>>>()?;
                let (settled, note) = self.choose(&checks, gross)?;
                (settled, checks, note)
            }
        };
        let m = self.measure(&probe, &settled)?;
        if let Some(c) = checks.iter_mut().find(|c| c.encoding == settled) {
            c.crop_max_abs = Some(m.crop);
        }
        // The postprocessing model reads the same input: it must agree with the preprocessing model.
        if matches!(asked, InputConvention::Auto) && !within(m.crop, gross) {
            for c in checks.iter_mut().filter(|c| c.encoding != settled) {
                let mut worker = self.ensemble.worker()?;
                c.crop_max_abs = Some(self.crop_diff(&mut worker, &probe, Some(&c.encoding), &[])?);
            }
            if let Some(other) =
                checks.iter().find(|c| c.encoding != settled && c.crop_max_abs.is_some_and(|d| d <= gross))
            {
                return Err(self.convention_error(
                    format!(
                        "the preprocessing model matches the native letterbox under {settled}, but the \
                         postprocessing model matches the native crop under {}: they disagree about what the \
                         input holds",
                        other.encoding
                    ),
                    checks,
                ));
            }
            note.push_str("; the postprocessing model differs from the native crop under every encoding");
        }
        Ok((EncodingDecision { asked, settled, checks, note }, m))
    }

    /// Auto's choice among the measured candidates (see [`InputConvention::Auto`]).
    fn choose(&self, checks: &[EncodingCheck], gross: f32) -> Result<(InputEncoding, String)> {
        let tol = self.tolerance;
        let matched: Vec<&EncodingCheck> = checks.iter().filter(|c| c.letterbox_max_abs <= tol).collect();
        if let Some(first) = matched.first() {
            let mut note = format!("settled from the repository's models: {} matched", first.encoding);
            if matched.len() > 1 {
                let others: Vec<String> = matched.iter().skip(1).map(|c| c.encoding.to_string()).collect();
                note.push_str(&format!(
                    " ({} matched too: the models give the same output for them; the first is used)",
                    others.join(", ")
                ));
            }
            return Ok((first.encoding, note));
        }
        let mut sorted: Vec<&EncodingCheck> = checks.iter().collect();
        sorted.sort_by(|a, b| a.letterbox_max_abs.total_cmp(&b.letterbox_max_abs));
        match sorted.as_slice() {
            [best, rest @ ..]
                if best.letterbox_max_abs <= gross
                    && rest
                        .iter()
                        .all(|c| c.letterbox_max_abs >= (CONVENTION_MARGIN * best.letterbox_max_abs).max(gross)) =>
            {
                Ok((
                    best.encoding,
                    format!(
                        "settled from the repository's models: {} is the closest by far, though not within the \
                         parity tolerance",
                        best.encoding
                    ),
                ))
            }
            _ => Err(self.convention_error(
                format!(
                    "no candidate encoding makes the repository's preprocessing model match the native letterbox \
                     (within {tol:.0e}, or clearly closest within {gross:.2e})"
                ),
                checks.to_vec(),
            )),
        }
    }

    fn convention_error(&self, message: String, checks: Vec<EncodingCheck>) -> Error {
        Error::InputConvention {
            model: self.ensemble.plan().name.clone(),
            tensor: self.roles.image.clone(),
            message,
            checks,
        }
    }
}

/// Bilinear-resizes an RGB8 frame (rounding to u8), used only to compare modes on frames of another size.
fn resize_u8(frame: &[u8], w: u32, h: u32, ow: u32, oh: u32) -> Result<Vec<u8>> {
    let mut planes = vec![0f32; 3 * ow as usize * oh as usize];
    resize::cpu::resize_to_nchw(frame, w, h, ow, oh, &InputEncoding::RGB, &mut planes)?;
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
fn probe_detections(real: &[f32], rows: usize, lb: &Letterbox, g: &Geometry) -> Vec<Vec<f32>> {
    let side = g.letterbox as f32;
    let (top, left) = (lb.pad_top as f32, lb.pad_left as f32);
    let hi = g.score_threshold.max(0.0) + 0.5;
    let crafted = |rows_in: &[[f32; 6]]| -> Vec<f32> {
        let mut v = vec![0f32; 6 * rows.max(rows_in.len())];
        for (dst, r) in v.chunks_exact_mut(6).zip(rows_in) {
            dst.copy_from_slice(r);
        }
        v
    };
    let mut sets = vec![
        crafted(&[[side * 0.3, top + 20.0, side * 0.6, top + 90.0, hi, 0.0]]),
        crafted(&[[side * 0.7, top + 100.0, side * 0.2, top + 10.0, hi, 1.0]]),
        crafted(&[[left - 50.0, top - 30.0, left + 100.0, top + 60.0, hi, 0.0]]),
        crafted(&[[side * 0.5, top + 50.0, side * 0.5, top + 50.0, hi, 0.0]]),
        crafted(&[[10.0, top + 10.0, 100.0, top + 100.0, g.score_threshold * 0.5, 0.0]]),
    ];
    if !real.is_empty() {
        sets.insert(0, real.to_vec());
    }
    sets
}
