//! Postprocessing, second half: the best box mapped back to original pixels ([`CropBox`], [`crop_box`]) and
//! resized to the estimator's `S × S` input ([`cpu::crop_resize`], `kernels/crop.cu` on the GPU).

pub mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

use super::clamp;
use super::letterbox::{DetFrame, Letterbox};
use super::select::{DETECTION_ROW, best_detection, detection_row};

/// The crop box in original pixels: ordered (`x1 <= x2`, `y1 <= y2`) and clamped to
/// `[0, W-1] × [0, H-1]` when made by [`CropBox::full_frame`], [`CropBox::ordered_clamped`] or
/// [`crop_box`]. A zero-area box is allowed: it samples one row or column repeatedly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropBox {
    /// Left edge (pixel centre coordinate).
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge, `>= x1`.
    pub x2: f32,
    /// Bottom edge, `>= y1`.
    pub y2: f32,
}

impl CropBox {
    /// The whole `w × h` frame: `(0, 0, w-1, h-1)` (a 0 side gives 0).
    pub fn full_frame(w: u32, h: u32) -> CropBox {
        CropBox { x1: 0.0, y1: 0.0, x2: w.saturating_sub(1) as f32, y2: h.saturating_sub(1) as f32 }
    }

    /// Orders two corners and clamps them to a `w × h` frame: `x1 = min(ax, bx)`, `x2 = max(ax, bx)`
    /// (same for `y`), each then clamped to `[0, w-1]` (`[0, h-1]`). NaN never survives: `min`/`max`
    /// ignore a NaN operand, and a NaN that is left clamps to 0.
    pub fn ordered_clamped(ax: f32, ay: f32, bx: f32, by: f32, w: u32, h: u32) -> CropBox {
        let (wm, hm) = (w.saturating_sub(1) as f32, h.saturating_sub(1) as f32);
        CropBox {
            x1: clamp(ax.min(bx), wm),
            y1: clamp(ay.min(by), hm),
            x2: clamp(ax.max(bx), wm),
            y2: clamp(ay.max(by), hm),
        }
    }
}

/// The crop box of a detection row (letterbox pixels) in the original frame: both corners mapped with
/// [`Letterbox::to_original`], then [`CropBox::ordered_clamped`] to `lb.src_w × lb.src_h`. `None` gives
/// [`CropBox::full_frame`]. Non-finite coordinates (which [`best_detection`] never selects) still give a
/// clamped, finite box.
pub fn crop_box(row: Option<&[f32; DETECTION_ROW]>, lb: &Letterbox) -> CropBox {
    let Some(&[x1, y1, x2, y2, _, _]) = row else {
        return CropBox::full_frame(lb.src_w, lb.src_h);
    };
    let (ax, ay) = lb.to_original(x1, y1);
    let (bx, by) = lb.to_original(x2, y2);
    CropBox::ordered_clamped(ax, ay, bx, by, lb.src_w, lb.src_h)
}

/// [`best_detection`] and [`crop_box`] together: the best row's index (if any) and the crop box.
pub fn select_crop(detections: &[f32], score_threshold: f32, lb: &Letterbox) -> (Option<usize>, CropBox) {
    let best = best_detection(detections, score_threshold);
    let row = best.and_then(|i| detection_row(detections, i));
    (best, crop_box(row, lb))
}

/// The crop box of the best row of `detections` (coordinates in the detector's frame `dframe`) in a
/// `width × height` frame: its corners mapped to original pixels, ordered and clamped; the whole frame when no
/// row qualifies ([`best_detection`]).
pub(crate) fn best_box(
    detections: &[f32],
    score_threshold: f32,
    dframe: &DetFrame,
    width: u32,
    height: u32,
) -> CropBox {
    match best_detection(detections, score_threshold).and_then(|row| detection_row(detections, row)) {
        Some(&[x1, y1, x2, y2, ..]) => {
            let (x1, y1) = dframe.original_of(x1, y1);
            let (x2, y2) = dframe.original_of(x2, y2);
            CropBox::ordered_clamped(x1, y1, x2, y2, width, height)
        }
        None => CropBox::full_frame(width, height),
    }
}

/// The source coordinate of output index `i` of a crop-resize from `[lo, hi]` to `out` samples (ONNX
/// `tf_crop_and_resize` in pixel units), in `f32`: `lo + i * (hi - lo) / (out - 1)`, evaluated left to
/// right. With `out <= 1` it is `0.5 * (lo + hi)`, as in ONNX.
#[inline]
pub fn crop_source(i: u32, lo: f32, hi: f32, out: u32) -> f32 {
    if out <= 1 {
        return 0.5 * (lo + hi);
    }
    lo + i as f32 * (hi - lo) / (out - 1) as f32
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn crop_box_maps_orders_and_clamps() {
        let lb = Letterbox::new(3840, 2160, 640).unwrap();
        let full = CropBox { x1: 0.0, y1: 0.0, x2: 3839.0, y2: 2159.0 };
        assert_eq!(crop_box(None, &lb), full);
        assert_eq!(CropBox::full_frame(3840, 2160), full);
        assert_eq!(CropBox::full_frame(0, 0), CropBox { x1: 0.0, y1: 0.0, x2: 0.0, y2: 0.0 });
        // Plain box: x * 6, (y - 140) * 6.
        let b = crop_box(Some(&[100.0, 240.0, 200.0, 340.0, 0.9, 0.0]), &lb);
        assert_eq!(b, CropBox { x1: 600.0, y1: 600.0, x2: 1200.0, y2: 1200.0 });
        // Inverted.
        let b = crop_box(Some(&[200.0, 340.0, 100.0, 240.0, 0.9, 0.0]), &lb);
        assert_eq!(b, CropBox { x1: 600.0, y1: 600.0, x2: 1200.0, y2: 1200.0 });
        // Zero area.
        let b = crop_box(Some(&[100.0, 240.0, 100.0, 240.0, 0.9, 0.0]), &lb);
        assert_eq!(b, CropBox { x1: 600.0, y1: 600.0, x2: 600.0, y2: 600.0 });
        // Partly outside (in the padding and beyond the letterbox).
        let b = crop_box(Some(&[-10.0, 100.0, 700.0, 520.0, 0.9, 0.0]), &lb);
        assert_eq!(b, full);
        // Entirely outside: collapses onto the border.
        let b = crop_box(Some(&[650.0, 0.0, 700.0, 10.0, 0.9, 0.0]), &lb);
        assert_eq!(b, CropBox { x1: 3839.0, y1: 0.0, x2: 3839.0, y2: 0.0 });
        // Non-finite never panics and gives a finite, ordered, clamped box.
        for r in [
            [f32::NAN; 6],
            [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e30, 0.0, 0.0],
            [f32::NEG_INFINITY, f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, 0.0, 0.0],
        ] {
            let b = crop_box(Some(&r), &lb);
            for v in [b.x1, b.y1, b.x2, b.y2] {
                assert!(v.is_finite());
            }
            assert!(0.0 <= b.x1 && b.x1 <= b.x2 && b.x2 <= 3839.0);
            assert!(0.0 <= b.y1 && b.y1 <= b.y2 && b.y2 <= 2159.0);
        }
        // 1x1 frame: everything collapses to (0, 0).
        let lb1 = Letterbox::new(1, 1, 640).unwrap();
        let b = crop_box(Some(&[10.0, 20.0, 600.0, 630.0, 0.9, 0.0]), &lb1);
        assert_eq!(b, CropBox { x1: 0.0, y1: 0.0, x2: 0.0, y2: 0.0 });
    }

    #[test]
    fn select_crop_without_candidates_is_the_full_frame() {
        let lb = Letterbox::new(1920, 1080, 640).unwrap();
        let d = [1.0, 2.0, 3.0, 4.0, 0.1, 0.0];
        assert_eq!(select_crop(&d, 0.25, &lb), (None, CropBox::full_frame(1920, 1080)));
        let d = [100.0, 240.0, 200.0, 340.0, 0.5, 0.0];
        let (i, b) = select_crop(&d, 0.25, &lb);
        assert_eq!(i, Some(0));
        assert_eq!(b, CropBox { x1: 300.0, y1: 300.0, x2: 600.0, y2: 600.0 });
        assert_eq!(detection_row(&d, 1), None);
    }
}
