//! Preprocessing: where a frame lands in the square letterbox the detector takes, and back.
//!
//! `letterbox = resize keeping the aspect ratio (3840×2160 → 640×360), centred, the rest padded with
//! `pad_value``: [`Letterbox`] is that placement, [`cpu::letterbox`] the stage on the CPU,
//! `kernels/letterbox.cu` the same on the GPU.

pub mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

use super::{Geometry, side_in_range};
use crate::{Error, Result};

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
    /// # use clo_pipeline::stages::Letterbox;
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

/// How the detector's letterbox coordinates map to the original frame: through `lb`, then scaled by
/// `(sx, sy)`. Native preprocessing letterboxes the frame itself (`sx = sy = 1`); the repository's
/// preprocessing model letterboxes the frame resized to the model's input size first
/// ([`DetFrame::model_input`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DetFrame {
    pub(crate) lb: Letterbox,
    pub(crate) sx: f32,
    pub(crate) sy: f32,
}

impl DetFrame {
    /// The frame's own letterbox.
    pub(crate) fn native(lb: Letterbox) -> DetFrame {
        DetFrame { lb, sx: 1.0, sy: 1.0 }
    }

    /// The letterbox of the model-input-size frame that a `width × height` frame is resized to.
    pub(crate) fn model_input(g: &Geometry, width: u32, height: u32) -> Result<DetFrame> {
        let (mw, mh) = g.model_input;
        Ok(DetFrame {
            lb: Letterbox::new(mw, mh, g.letterbox)?,
            sx: width as f32 / mw as f32,
            sy: height as f32 / mh as f32,
        })
    }

    /// A point in detector (letterbox) pixels, in original frame pixels.
    pub(crate) fn original_of(&self, x: f32, y: f32) -> (f32, f32) {
        let (ox, oy) = self.lb.to_original(x, y);
        (ox * self.sx, oy * self.sy)
    }

    /// A point in original frame pixels, in detector (letterbox) pixels.
    pub(crate) fn letterbox_of(&self, (x, y): (f32, f32)) -> (f32, f32) {
        self.lb.to_letterbox(x / self.sx, y / self.sy)
    }

    /// Moves rows' boxes from this detector frame to `to` (through original pixels).
    pub(crate) fn remap_rows(&self, rows: &mut [f32], to: &DetFrame) {
        for [x1, y1, x2, y2, ..] in rows.chunks_exact_mut(6).filter_map(|r| <&mut [f32; 6]>::try_from(r).ok()) {
            (*x1, *y1) = to.letterbox_of(self.original_of(*x1, *y1));
            (*x2, *y2) = to.letterbox_of(self.original_of(*x2, *y2));
        }
    }
}

/// `round(v)` clamped to `1..=t`; NaN gives 1.
fn round_side(v: f64, t: f64) -> u32 {
    // `max` first: NaN.max(1.0) is 1.0. The result is in 1..=t <= MAX_SIDE, so the cast is exact.
    v.round().max(1.0).min(t) as u32
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::stages::MAX_SIDE;
    use crate::stages::reference::unit;

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
}
