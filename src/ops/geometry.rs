//! The pipeline's geometry as pure arithmetic: parameters, the letterbox transform, the choice of the best
//! detection, the crop box, and the per-axis source coordinates of the two resizes.
//!
//! This module is the executable form of `docs/geometry.md`. Nothing here allocates, and every function is
//! total: no input makes it panic. The CUDA kernels mirror [`half_pixel_source`], [`crop_source`],
//! [`AxisTap::new`] and [`bilinear`] line for line, so every expression is written in `f32` in the order the
//! spec gives (Rust never contracts `a * b + c` into a fused multiply-add, so the rounding is the one shown).
//!
//! Why the coordinate arithmetic has to match to the bit, not just approximately: at `x ≈ 3000` one `f32`
//! ulp is `2.4e-4` pixels, and on a full-contrast edge (0 next to 255) the sampled value moves by the same
//! amount on the 0..1 scale, which is more than the 1e-4 tolerance between backends.

use crate::{Error, Result};

/// The largest side (in pixels) any parameter of [`Geometry`] or [`Letterbox`] may have.
pub const MAX_SIDE: u32 = 16384;

/// The pipeline's geometric parameters. [`Default`] gives the values of `docs/geometry.md`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    /// `(width, height)` of the frame the repository's preprocessing model takes (3840 × 2160).
    pub model_input: (u32, u32),
    /// Side of the square letterbox (640).
    pub letterbox: u32,
    /// Value of the letterbox padding after scaling (114 / 255).
    pub pad_value: f32,
    /// Multiplier from a `u8` pixel value to a model value (1 / 255).
    pub scale: f32,
    /// Side of the square crop (384).
    pub crop: u32,
    /// Minimum score of a detection row (0.25).
    pub score_threshold: f32,
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry {
            model_input: (3840, 2160),
            letterbox: 640,
            pad_value: 114.0_f32 / 255.0_f32,
            scale: 1.0_f32 / 255.0_f32,
            crop: 384,
            score_threshold: 0.25,
        }
    }
}

impl Geometry {
    /// Checks every parameter: sizes in `1..=MAX_SIDE` (the crop side at least 2, so that its sample
    /// spacing `(b - a) / (S - 1)` is defined), and `pad_value`, `scale` and `score_threshold` finite.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first offending field.
    pub fn validate(&self) -> Result<()> {
        side_in_range("model_input.width", self.model_input.0, 1)?;
        side_in_range("model_input.height", self.model_input.1, 1)?;
        side_in_range("letterbox", self.letterbox, 1)?;
        side_in_range("crop", self.crop, 2)?;
        finite("pad_value", self.pad_value)?;
        finite("scale", self.scale)?;
        finite("score_threshold", self.score_threshold)?;
        Ok(())
    }
}

fn side_in_range(name: &'static str, value: u32, min: u32) -> Result<()> {
    if value < min || value > MAX_SIDE {
        return Err(Error::InvalidParameter { name, message: format!("{value} is outside {min}..={MAX_SIDE}") });
    }
    Ok(())
}

fn finite(name: &'static str, value: f32) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::InvalidParameter { name, message: format!("{value} is not finite") });
    }
    Ok(())
}

/// Where a `src_w × src_h` frame lands inside a `side × side` letterbox.
///
/// Invariants after [`Letterbox::new`]: `1 <= new_w, new_h <= side`, `pad_left + new_w <= side`,
/// `pad_top + new_h <= side`. The fields are public for reading; a value built by hand that breaks these
/// invariants gives meaningless coordinates but never a panic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    /// Width of the original frame.
    pub src_w: u32,
    /// Height of the original frame.
    pub src_h: u32,
    /// Width of the resized frame inside the letterbox.
    pub new_w: u32,
    /// Height of the resized frame inside the letterbox.
    pub new_h: u32,
    /// Columns of padding on the left.
    pub pad_left: u32,
    /// Rows of padding on top.
    pub pad_top: u32,
    /// Side of the square letterbox.
    pub side: u32,
}

impl Letterbox {
    /// The letterbox of a `src_w × src_h` frame in a `side × side` square:
    /// `r = min(side / src_w, side / src_h)` in `f64`, `new_w = round(src_w * r)` (halves away from zero,
    /// Rust's [`f64::round`]), clamped to `1..=side`, same for `new_h`; `pad_left = (side - new_w) / 2` and
    /// `pad_top = (side - new_h) / 2`, floored.
    ///
    /// # Example: the default frame
    /// ```
    /// # use clo_pipeline::ops::geometry::Letterbox;
    /// let lb = Letterbox::new(3840, 2160, 640)?;
    /// assert_eq!((lb.new_w, lb.new_h, lb.pad_left, lb.pad_top), (640, 360, 0, 140));
    /// # Ok::<(), clo_pipeline::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Image`] when a frame side is 0; [`Error::InvalidParameter`] when `side` is outside
    /// `1..=MAX_SIDE`.
    pub fn new(src_w: u32, src_h: u32, side: u32) -> Result<Letterbox> {
        if src_w == 0 || src_h == 0 {
            return Err(Error::Image {
                path: None,
                message: format!("frame is {src_w}x{src_h}; both sides must be at least 1 pixel"),
                source: None,
            });
        }
        side_in_range("letterbox", side, 1)?;
        let t = f64::from(side);
        let (w, h) = (f64::from(src_w), f64::from(src_h));
        let r = (t / w).min(t / h);
        let new_w = round_side(w * r, t);
        let new_h = round_side(h * r, t);
        Ok(Letterbox { src_w, src_h, new_w, new_h, pad_left: (side - new_w) / 2, pad_top: (side - new_h) / 2, side })
    }

    /// Maps a point from letterbox pixels to original pixels:
    /// `x = (x_lb - pad_left) * src_w / new_w`, `y = (y_lb - pad_top) * src_h / new_h`, in `f32`, evaluated
    /// left to right. Not clamped.
    pub fn to_original(&self, x_lb: f32, y_lb: f32) -> (f32, f32) {
        let x = (x_lb - self.pad_left as f32) * self.src_w as f32 / self.new_w as f32;
        let y = (y_lb - self.pad_top as f32) * self.src_h as f32 / self.new_h as f32;
        (x, y)
    }

    /// The inverse of [`Letterbox::to_original`]: `x_lb = x * new_w / src_w + pad_left` (same for `y`), in
    /// `f32`. Round trips agree to `f32` rounding.
    pub fn to_letterbox(&self, x: f32, y: f32) -> (f32, f32) {
        let x_lb = x * self.new_w as f32 / self.src_w as f32 + self.pad_left as f32;
        let y_lb = y * self.new_h as f32 / self.src_h as f32 + self.pad_top as f32;
        (x_lb, y_lb)
    }
}

/// `round(v)` clamped to `1..=t`; NaN gives 1.
fn round_side(v: f64, t: f64) -> u32 {
    // `max` first: NaN.max(1.0) is 1.0. The result is in 1..=t <= MAX_SIDE, so the cast is exact.
    v.round().max(1.0).min(t) as u32
}

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

/// `v` clamped to `[0, hi]` (`hi >= 0`); NaN gives 0. `f32::clamp` is not used because it panics on bad
/// bounds.
#[inline]
fn clamp(v: f32, hi: f32) -> f32 {
    v.max(0.0).min(hi)
}

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

/// The source coordinate of destination index `dst` for a `half_pixel` resize of an axis of `src_len`
/// pixels to `dst_len` pixels (ONNX `Resize`, `coordinate_transformation_mode="half_pixel"`), in `f32`:
/// `s = dst_len / src_len`, `x = (dst + 0.5) / s - 0.5`, clamped to `[0, src_len - 1]`.
#[inline]
pub fn half_pixel_source(dst: u32, src_len: u32, dst_len: u32) -> f32 {
    let s = dst_len as f32 / src_len as f32;
    let x = (dst as f32 + 0.5) / s - 0.5;
    clamp(x, src_len.saturating_sub(1) as f32)
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

/// One axis of the bilinear [`sample`](bilinear): the two source indices and the weight of the second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisTap {
    /// `floor(x)`, clamped to `[0, len - 1]`.
    pub i0: u32,
    /// `min(i0 + 1, len - 1)`.
    pub i1: u32,
    /// `x - floor(x)`.
    pub frac: f32,
}

impl AxisTap {
    /// The tap of coordinate `x` (expected inside `[0, len - 1]`) on an axis of `len` pixels:
    /// `i0 = floor(x)`, `i1 = min(i0 + 1, len - 1)`, `frac = x - floor(x)`. Outside that range (or NaN) the
    /// indices are clamped so they are always valid for `len >= 1`.
    #[inline]
    pub fn new(x: f32, len: u32) -> AxisTap {
        let last = len.saturating_sub(1);
        let xf = x.floor();
        // `as` saturates: negative and NaN give 0, huge values u32::MAX; then clamp to the last index.
        let i0 = (xf as u32).min(last);
        let i1 = i0.saturating_add(1).min(last);
        AxisTap { i0, i1, frac: x - xf }
    }
}

/// The bilinear blend of `docs/geometry.md`, in `f32` and in this order:
/// `(1-wy)*((1-wx)*p00 + wx*p01) + wy*((1-wx)*p10 + wx*p11)`, where `p01` is right of `p00` and `p10`
/// below it.
#[inline]
pub fn bilinear(p00: f32, p01: f32, p10: f32, p11: f32, wx: f32, wy: f32) -> f32 {
    (1.0 - wy) * ((1.0 - wx) * p00 + wx * p01) + wy * ((1.0 - wx) * p10 + wx * p11)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn default_geometry_is_valid_and_matches_the_spec() {
        let g = Geometry::default();
        assert!(g.validate().is_ok());
        assert_eq!(g.model_input, (3840, 2160));
        assert_eq!((g.letterbox, g.crop), (640, 384));
        assert_eq!(g.pad_value, 114.0 / 255.0);
        assert_eq!(g.scale, 1.0 / 255.0);
        assert_eq!(g.score_threshold, 0.25);
    }

    #[test]
    fn validate_rejects_bad_parameters() {
        let ok = Geometry::default();
        let bad = [
            Geometry { model_input: (0, 2160), ..ok },
            Geometry { model_input: (3840, MAX_SIDE + 1), ..ok },
            Geometry { letterbox: 0, ..ok },
            Geometry { crop: 1, ..ok },
            Geometry { crop: u32::MAX, ..ok },
            Geometry { pad_value: f32::NAN, ..ok },
            Geometry { scale: f32::INFINITY, ..ok },
            Geometry { score_threshold: f32::NEG_INFINITY, ..ok },
        ];
        for g in bad {
            assert!(matches!(g.validate(), Err(Error::InvalidParameter { .. })), "{g:?}");
        }
    }

    #[test]
    fn letterbox_of_the_default_frame() {
        let lb = Letterbox::new(3840, 2160, 640).unwrap();
        assert_eq!(
            lb,
            Letterbox { src_w: 3840, src_h: 2160, new_w: 640, new_h: 360, pad_left: 0, pad_top: 140, side: 640 }
        );
    }

    #[test]
    fn letterbox_odd_sizes() {
        let cases = [
            // (w, h, side) -> (new_w, new_h, pad_left, pad_top)
            ((1, 1, 640), (640, 640, 0, 0)),
            ((1, 2000, 640), (1, 640, 319, 0)),
            ((2000, 1, 640), (640, 1, 0, 319)),
            ((360, 1000, 640), (230, 640, 205, 0)),
            ((4000, 3000, 640), (640, 480, 0, 80)),
            ((641, 359, 640), (640, 358, 0, 141)),
            ((1920, 1080, 640), (640, 360, 0, 140)),
            ((640, 640, 640), (640, 640, 0, 0)),
            // 1 * 640 / 256 = 2.5 rounds away from zero.
            ((256, 1, 640), (640, 3, 0, 318)),
            ((7, 13, 640), (345, 640, 147, 0)),
            ((3840, 2160, 1), (1, 1, 0, 0)),
        ];
        for ((w, h, t), (nw, nh, pl, pt)) in cases {
            let lb = Letterbox::new(w, h, t).unwrap();
            assert_eq!((lb.new_w, lb.new_h, lb.pad_left, lb.pad_top), (nw, nh, pl, pt), "{w}x{h} in {t}");
            assert!(lb.pad_left + lb.new_w <= t && lb.pad_top + lb.new_h <= t);
        }
    }

    #[test]
    fn letterbox_rejects_zero_sizes() {
        assert!(matches!(Letterbox::new(0, 10, 640), Err(Error::Image { .. })));
        assert!(matches!(Letterbox::new(10, 0, 640), Err(Error::Image { .. })));
        assert!(matches!(Letterbox::new(10, 10, 0), Err(Error::InvalidParameter { .. })));
        assert!(matches!(Letterbox::new(10, 10, MAX_SIDE + 1), Err(Error::InvalidParameter { .. })));
    }

    #[test]
    fn letterbox_round_trip() {
        let mut rng = 0x1234_5678_9abc_def0_u64;
        for (w, h) in [(3840, 2160), (1920, 1080), (4000, 3000), (360, 1000), (7, 13), (1, 1), (641, 359)] {
            let lb = Letterbox::new(w, h, 640).unwrap();
            for _ in 0..1000 {
                let x = unit(&mut rng) * w as f32;
                let y = unit(&mut rng) * h as f32;
                let (xl, yl) = lb.to_letterbox(x, y);
                let (x2, y2) = lb.to_original(xl, yl);
                assert!((x2 - x).abs() <= 1e-3 && (y2 - y).abs() <= 1e-3, "{w}x{h}: ({x},{y}) -> ({x2},{y2})");
            }
            // The resized frame's corners map to the frame's corners.
            assert_eq!(lb.to_original(lb.pad_left as f32, lb.pad_top as f32), (0.0, 0.0));
            let (xe, ye) = lb.to_original((lb.pad_left + lb.new_w) as f32, (lb.pad_top + lb.new_h) as f32);
            assert_eq!((xe, ye), (w as f32, h as f32));
        }
    }

    fn unit(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 40) as f32 / (1u64 << 24) as f32
    }

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

        // Random rows against the sort-based reference.
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

    #[test]
    fn coordinate_helpers() {
        // Identity resize maps every index to itself.
        for i in 0..4000 {
            assert_eq!(half_pixel_source(i, 4000, 4000), i as f32);
        }
        // 6x downscale: (i + 0.5) * 6 - 0.5.
        assert_eq!(half_pixel_source(0, 3840, 640), 2.5);
        assert_eq!(half_pixel_source(639, 3840, 640), 3836.5);
        // Upscale clamps at both ends.
        assert_eq!(half_pixel_source(0, 10, 100), 0.0);
        assert_eq!(half_pixel_source(99, 10, 100), 9.0);
        // Degenerate inputs do not panic.
        assert_eq!(half_pixel_source(0, 0, 0), 0.0);
        assert_eq!(half_pixel_source(5, 1, 0), 0.0);
        assert_eq!(crop_source(0, 10.0, 20.0, 11), 10.0);
        assert_eq!(crop_source(10, 10.0, 20.0, 11), 20.0);
        assert_eq!(crop_source(5, 10.0, 20.0, 11), 15.0);
        assert_eq!(crop_source(0, 10.0, 20.0, 1), 15.0);
        assert_eq!(crop_source(0, 10.0, 20.0, 0), 15.0);
        assert_eq!(AxisTap::new(2.5, 10), AxisTap { i0: 2, i1: 3, frac: 0.5 });
        assert_eq!(AxisTap::new(9.0, 10), AxisTap { i0: 9, i1: 9, frac: 0.0 });
        assert_eq!(AxisTap::new(0.0, 1), AxisTap { i0: 0, i1: 0, frac: 0.0 });
        assert_eq!(AxisTap::new(f32::NAN, 10).i0, 0);
        assert_eq!(AxisTap::new(-3.0, 10).i1, 1);
        assert_eq!(AxisTap::new(1e9, 10), AxisTap { i0: 9, i1: 9, frac: 0.0 });
        assert_eq!(AxisTap::new(3.0, 0), AxisTap { i0: 0, i1: 0, frac: 0.0 });
        assert_eq!(bilinear(10.0, 20.0, 30.0, 40.0, 0.0, 0.0), 10.0);
        assert_eq!(bilinear(10.0, 20.0, 30.0, 40.0, 0.5, 0.5), 25.0);
        assert_eq!(bilinear(10.0, 20.0, 30.0, 40.0, 1.0, 1.0), 40.0);
    }
}
