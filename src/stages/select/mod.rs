//! Postprocessing, first half: which detection rows count, which one is the best (`kernels/select.cu` makes
//! the same choice on the GPU), and the typed [`Detection`]s they become.

#[cfg(feature = "cuda")]
pub(crate) mod cuda;

use super::letterbox::DetFrame;
use super::{CropBox, Geometry};

/// Number of `f32` values in one detection row: `(x1, y1, x2, y2, score, class)`.
pub const DETECTION_ROW: usize = 6;

/// The index of the best detection row in `detections` (rows of [`DETECTION_ROW`] values, a trailing
/// partial row ignored), or `None`.
///
/// A candidate row has its four coordinates and its score finite and `score >= score_threshold` (a NaN
/// threshold admits nothing). The best candidate has the highest score; on equal scores, the lowest index.
pub fn best_detection(detections: &[f32], score_threshold: f32) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, row) in detections.chunks_exact(DETECTION_ROW).enumerate() {
        let &[x1, y1, x2, y2, score, _] = row else {
            continue;
        };
        let finite = x1.is_finite() && y1.is_finite() && x2.is_finite() && y2.is_finite() && score.is_finite();
        if !finite || score < score_threshold || score.is_nan() || score_threshold.is_nan() {
            continue;
        }
        match best {
            Some((_, s)) if s >= score => {}
            _ => best = Some((i, score)),
        }
    }
    best.map(|(i, _)| i)
}

/// Row `index` of `detections` (rows of [`DETECTION_ROW`] values), or `None` when it is out of range.
pub fn detection_row(detections: &[f32], index: usize) -> Option<&[f32; DETECTION_ROW]> {
    detections.chunks_exact(DETECTION_ROW).nth(index).and_then(|row| row.try_into().ok())
}

/// A detection, with its box in original frame pixels and in letterbox pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Detection {
    /// Row of the detector's output this comes from.
    pub row: usize,
    /// `[x1, y1, x2, y2]` in original frame pixels (ordered, clamped to the frame).
    pub bbox: [f32; 4],
    /// `[x1, y1, x2, y2]` as the detector gave it, in letterbox pixels.
    pub letterbox_bbox: [f32; 4],
    /// Confidence.
    pub score: f32,
    /// Class index: the detector's class value when it is a whole number in `0..=u32::MAX`; `None` when it is
    /// not (NaN, negative or fractional), which no class index is: the row's raw values are in the
    /// ensemble's `yolo_detections` output ([`Pipeline::run_ensemble`](crate::Pipeline::run_ensemble)).
    pub class: Option<u32>,
}

/// A detector's class value as a class index: a whole number in `0..=u32::MAX`, else `None`.
fn class_index(v: f32) -> Option<u32> {
    // `u32::MAX as f32` rounds up to 2^32, which is out of range: compare below it.
    (v.fract() == 0.0 && (0.0..4_294_967_296.0).contains(&v)).then_some(v as u32)
}

/// A detector output that no working detector gives on a camera frame, flagged in
/// [`Inference::degenerate`](crate::Inference::degenerate) (see [`degenerate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Degenerate {
    /// Every one of the `rows` rows (at least [`FILLED_ROWS_MIN`]) is a candidate: no padding row at all.
    EveryRowFilled {
        /// Rows of the detector's output.
        rows: usize,
    },
    /// Every one of the `candidates` candidate rows has a box of zero area (`x2 <= x1` or `y2 <= y1`).
    ZeroAreaBoxes {
        /// Candidate rows.
        candidates: usize,
    },
    /// At least half of the candidates (and at least [`SATURATED_MIN`]) score 1 or more: a confidence that
    /// saturates like that comes from activations far outside what the detector was trained on.
    SaturatedScores {
        /// Candidate rows scoring 1 or more.
        saturated: usize,
        /// Candidate rows.
        candidates: usize,
    },
}

impl std::fmt::Display for Degenerate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = "the detector's input is probably not what it expects (input encoding, channel order or scale), \
                   or the model is broken";
        match self {
            Degenerate::EveryRowFilled { rows } => {
                write!(f, "every one of the detector's {rows} rows scores at or above the threshold: {why}")
            }
            Degenerate::ZeroAreaBoxes { candidates } => {
                write!(f, "all {candidates} detections have boxes of zero area: {why}")
            }
            Degenerate::SaturatedScores { saturated, candidates } => {
                write!(f, "{saturated} of the {candidates} detections score 1 or more (saturated): {why}")
            }
        }
    }
}

/// The fewest rows for which a detector output with every row a candidate counts as degenerate (an
/// end-to-end detector pads its fixed rows; one with only a handful of rows may fill them on a busy frame).
pub const FILLED_ROWS_MIN: usize = 16;

/// The fewest saturated candidates ([`Degenerate::SaturatedScores`]) that count as degenerate.
pub const SATURATED_MIN: usize = 4;

/// Whether `detections` (rows of [`DETECTION_ROW`] values, candidates as in [`best_detection`]) is degenerate,
/// checked in this order: every row a candidate (with at least [`FILLED_ROWS_MIN`] rows); every candidate box
/// of zero area; at least half of the candidates, and [`SATURATED_MIN`], scoring 1 or more.
pub fn degenerate(detections: &[f32], score_threshold: f32) -> Option<Degenerate> {
    let rows = detections.len() / DETECTION_ROW;
    let (mut candidates, mut empty, mut saturated) = (0, 0, 0);
    for row in detections.chunks_exact(DETECTION_ROW) {
        let &[x1, y1, x2, y2, score, _] = row else { continue };
        if [x1, y1, x2, y2, score].iter().all(|v| v.is_finite()) && score >= score_threshold {
            candidates += 1;
            empty += usize::from(x2 <= x1 || y2 <= y1);
            saturated += usize::from(score >= 1.0);
        }
    }
    if rows >= FILLED_ROWS_MIN && candidates == rows {
        Some(Degenerate::EveryRowFilled { rows })
    } else if candidates > 0 && empty == candidates {
        Some(Degenerate::ZeroAreaBoxes { candidates })
    } else if saturated >= SATURATED_MIN && 2 * saturated >= candidates {
        Some(Degenerate::SaturatedScores { saturated, candidates })
    } else {
        None
    }
}

/// What postprocessing chose from one frame's detector output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Selection {
    /// Index into the typed detections of the best one.
    pub(crate) best: Option<usize>,
    /// The box that is cropped (the best detection's, or the whole frame), in original pixels.
    pub(crate) crop_box: [f32; 4],
    /// Whether the output is degenerate ([`degenerate`]).
    pub(crate) degenerate: Option<Degenerate>,
}

/// The rows worth reporting (finite, at or above the threshold), mapped to original pixels, into `out` (its
/// capacity reused), and what was chosen from them ([`Selection`]).
pub(crate) fn typed_detections(
    dets: &[f32],
    dframe: &DetFrame,
    g: &Geometry,
    width: u32,
    height: u32,
    out: &mut Vec<Detection>,
) -> Selection {
    out.clear();
    let rows = dets
        .chunks_exact(6)
        .filter_map(|r| <&[f32; 6]>::try_from(r).ok())
        .enumerate()
        .filter(|(_, r)| r.iter().take(5).all(|v| v.is_finite()) && r[4] >= g.score_threshold)
        .map(|(row, &[lx1, ly1, lx2, ly2, score, class])| {
            let (x1, y1) = dframe.original_of(lx1, ly1);
            let (x2, y2) = dframe.original_of(lx2, ly2);
            let b = CropBox::ordered_clamped(x1, y1, x2, y2, width, height);
            let class = class_index(class);
            Detection { row, bbox: [b.x1, b.y1, b.x2, b.y2], letterbox_bbox: [lx1, ly1, lx2, ly2], score, class }
        });
    out.extend(rows);
    let best_row = best_detection(dets, g.score_threshold);
    let best = best_row.and_then(|r| out.iter().position(|d| d.row == r));
    let crop_box =
        best.and_then(|i| out.get(i)).map(|d| d.bbox).unwrap_or([0.0, 0.0, (width - 1) as f32, (height - 1) as f32]);
    Selection { best, crop_box, degenerate: degenerate(dets, g.score_threshold) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::stages::Letterbox;
    use crate::stages::reference::unit;

    /// `best_detection` straight from the spec, as a sort.
    fn best_reference(d: &[f32], thr: f32) -> Option<usize> {
        let mut c: Vec<(usize, f32)> = d
            .chunks(6)
            .enumerate()
            .filter(|(_, r)| r.len() == 6 && r[..5].iter().all(|v| v.is_finite()) && r[4] >= thr)
            .map(|(i, r)| (i, r[4]))
            .collect();
        // Highest score first, then lowest index.
        c.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
        c.first().map(|&(i, _)| i)
    }

    #[test]
    fn best_detection_rules() {
        let nan = f32::NAN;
        let inf = f32::INFINITY;
        #[rustfmt::skip]
        let d = [
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, // padding row
            1.0, 2.0, 3.0, 4.0, 0.5, 1.0,
            1.0, 2.0, 3.0, 4.0, 0.9, 1.0, // best, first of a tie
            nan, 2.0, 3.0, 4.0, 0.99, 1.0, // non-finite coordinate
            1.0, 2.0, inf, 4.0, 0.99, 1.0,
            1.0, 2.0, 3.0, 4.0, nan, 1.0,
            1.0, 2.0, 3.0, 4.0, inf, 1.0,
            5.0, 6.0, 7.0, 8.0, 0.9, 2.0, // tie, later
            1.0, 2.0, 3.0, 4.0, 0.95, nan, // class is not checked: best
        ];
        assert_eq!(best_detection(&d, 0.25), Some(8));
        assert_eq!(best_detection(&d[..48], 0.25), Some(2));
        assert_eq!(best_detection(&d[..48], 0.9), Some(2));
        assert_eq!(best_detection(&d[..48], 0.91), None);
        assert_eq!(best_detection(&d, nan), None);
        assert_eq!(best_detection(&d, f32::NEG_INFINITY), Some(8));
        // The zero padding row is a candidate at threshold 0.
        assert_eq!(best_detection(&d[..6], 0.0), Some(0));
        // A trailing partial row is ignored, even with a high score.
        let partial = [1.0, 2.0, 3.0, 4.0, 0.3, 0.0, 1.0, 2.0, 3.0, 4.0, 0.99];
        assert_eq!(best_detection(&partial, 0.25), Some(0));
        assert_eq!(best_detection(&[], 0.25), None);
        // All below the threshold.
        let low = [1.0, 2.0, 3.0, 4.0, 0.2, 0.0, 1.0, 2.0, 3.0, 4.0, 0.249_999, 0.0];
        assert_eq!(best_detection(&low, 0.25), None);

        // Random rows against the sort-based reference (below), then the degenerate outputs.
        let mut rng = 42_u64;
        let specials = [nan, inf, -inf, 0.25, 0.5, 0.5, 1.0];
        for n in 0..200 {
            let mut d = Vec::new();
            for _ in 0..(n % 40) * 6 + n % 6 {
                let u = unit(&mut rng);
                d.push(if u < 0.1 { specials[(u * 70.0) as usize % specials.len()] } else { u });
            }
            for thr in [0.0, 0.25, 0.5, 0.9] {
                assert_eq!(best_detection(&d, thr), best_reference(&d, thr), "{d:?} {thr}");
            }
        }
    }

    #[test]
    fn degenerate_outputs_are_flagged() {
        let row = |x1: f32, y1: f32, x2: f32, y2: f32, score: f32| [x1, y1, x2, y2, score, 0.0];
        let rows = |r: &[[f32; 6]]| r.iter().flatten().copied().collect::<Vec<f32>>();
        // The output: 300 rows, all `[0, 0, 456, 0]` with score 1.
        let filled = rows(&vec![row(0.0, 0.0, 456.0, 0.0, 1.0); 300]);
        assert_eq!(degenerate(&filled, 0.25), Some(Degenerate::EveryRowFilled { rows: 300 }));
        // Real boxes but every row a candidate: still degenerate.
        let busy = rows(&vec![row(10.0, 10.0, 50.0, 60.0, 0.9); 300]);
        assert_eq!(degenerate(&busy, 0.25), Some(Degenerate::EveryRowFilled { rows: 300 }));
        // A detector with few rows may fill them.
        let few = rows(&vec![row(10.0, 10.0, 50.0, 60.0, 0.9); FILLED_ROWS_MIN - 1]);
        assert_eq!(degenerate(&few, 0.25), None);
        // Zero-area candidates (the padding rows do not count).
        let mut flat = vec![row(5.0, 5.0, 5.0, 40.0, 0.8), row(1.0, 2.0, 30.0, 2.0, 0.6)];
        flat.extend(vec![[0.0; 6]; 298]);
        assert_eq!(degenerate(&rows(&flat), 0.25), Some(Degenerate::ZeroAreaBoxes { candidates: 2 }));
        // One real box among them: fine. No candidate at all: fine (the whole frame is cropped).
        flat[2] = row(5.0, 5.0, 40.0, 40.0, 0.3);
        assert_eq!(degenerate(&rows(&flat), 0.25), None);
        assert_eq!(degenerate(&vec![0.0; 1800], 0.25), None);
        assert!(Degenerate::EveryRowFilled { rows: 300 }.to_string().contains("input encoding"));
        // Saturated confidences on half the candidates or more.
        let mut sat = vec![row(5.0, 5.0, 40.0, 40.0, 1.0); SATURATED_MIN];
        sat.extend(vec![row(5.0, 5.0, 40.0, 40.0, 0.7); SATURATED_MIN]);
        sat.extend(vec![[0.0; 6]; 300 - 2 * SATURATED_MIN]);
        let want = Degenerate::SaturatedScores { saturated: SATURATED_MIN, candidates: 2 * SATURATED_MIN };
        assert_eq!(degenerate(&rows(&sat), 0.25), Some(want));
        sat[0][4] = 0.99;
        assert_eq!(degenerate(&rows(&sat), 0.25), None);
    }

    #[test]
    fn typed_detections_report_the_class_as_an_index_or_none() {
        let lb = Letterbox::new(640, 640, 640).unwrap();
        let g = Geometry::default();
        #[rustfmt::skip]
        let d = [
            1.0, 2.0, 3.0, 4.0, 0.5, 0.0,
            1.0, 2.0, 3.0, 4.0, 0.9, 1.0, // best
            1.0, 2.0, 3.0, 4.0, 0.5, 7.0,
            1.0, 2.0, 3.0, 4.0, 0.5, f32::NAN,
            1.0, 2.0, 3.0, 4.0, 0.5, 1.5,
            1.0, 2.0, 3.0, 4.0, 0.5, -1.0,
            1.0, 2.0, 3.0, 4.0, 0.5, 4_294_967_296.0,
            1.0, 2.0, 3.0, 4.0, 0.1, 2.0, // below the threshold: not reported
        ];
        let mut out = Vec::new();
        let Selection { best, crop_box, .. } = typed_detections(&d, &DetFrame::native(lb), &g, 640, 640, &mut out);
        let classes: Vec<Option<u32>> = out.iter().map(|d| d.class).collect();
        assert_eq!(classes, [Some(0), Some(1), Some(7), None, None, None, None]);
        assert_eq!(best, Some(1));
        assert_eq!(out[1].row, 1);
        assert_eq!(crop_box, [1.0, 2.0, 3.0, 4.0]);
    }
}
