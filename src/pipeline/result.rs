//! What an inference returns: detections, the crop, the oil percentage, timings; and the parity report.

use std::time::Duration;

use ndarray::Array4;

use super::StageMode;
use crate::stages::select::{Degenerate, Detection};

#[cfg(feature = "serde")]
fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// Wall-clock time of each stage of one inference (serialised as milliseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StageTimings {
    /// Preprocessing (native letterbox, or frame conversion + preprocessing model).
    #[cfg_attr(feature = "serde", serde(rename = "preprocess_ms", serialize_with = "millis"))]
    pub preprocess: Duration,
    /// The detector.
    #[cfg_attr(feature = "serde", serde(rename = "detect_ms", serialize_with = "millis"))]
    pub detect: Duration,
    /// Postprocessing (best box + crop).
    #[cfg_attr(feature = "serde", serde(rename = "postprocess_ms", serialize_with = "millis"))]
    pub postprocess: Duration,
    /// The estimator.
    #[cfg_attr(feature = "serde", serde(rename = "estimate_ms", serialize_with = "millis"))]
    pub estimate: Duration,
    /// Everything, from the frame in to the result out.
    #[cfg_attr(feature = "serde", serde(rename = "total_ms", serialize_with = "millis"))]
    pub total: Duration,
}

/// The result of [`Pipeline::infer`](crate::Pipeline::infer). Serialises (feature `serde`) without the crop tensor.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Inference {
    /// Detections at or above the score threshold with finite values, in the detector's row order
    /// (padding rows dropped).
    pub detections: Vec<Detection>,
    /// Index into `detections` of the box that was cropped; `None` when there was no detection, in which case
    /// the whole frame was cropped (the documented behaviour of the repository's postprocessing model).
    pub best: Option<usize>,
    /// Set when the detector's output is one no working detector gives on a camera frame (every row filled,
    /// every box of zero area): the sign of an input the detector was not made for (a wrong input encoding,
    /// channel order or scale) or of a broken model. The result is still returned; do not trust its oil %.
    pub degenerate: Option<Degenerate>,
    /// The estimator's output: the oil percentage.
    pub oil_pct: f32,
    /// The crop that the estimator saw, f32 `[1, 3, S, S]` NCHW on the model's scale (0..1 by default).
    #[cfg_attr(feature = "serde", serde(skip))]
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

/// An empty result (no detections, an empty crop), to pass to [`Pipeline::infer_into`] and reuse.
///
/// [`Pipeline::infer_into`]: crate::Pipeline::infer_into
impl Default for Inference {
    fn default() -> Self {
        Inference {
            detections: Vec::new(),
            best: None,
            degenerate: None,
            oil_pct: 0.0,
            crop: Array4::zeros((0, 3, 0, 0)),
            crop_box: [0.0; 4],
            frame_size: (0, 0),
            modes: (StageMode::Auto, StageMode::Auto),
            timings: StageTimings::default(),
        }
    }
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
#[non_exhaustive]
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
