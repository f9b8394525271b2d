//! The pipeline's native stages, one home each, holding the geometry it implements (the executable form of
//! `docs/geometry.md`: pure `f32` arithmetic, no allocation, no I/O, no panic) and its CPU (rayon) and CUDA
//! (`kernels/*.cu`, launched by `cuda.rs`) halves side by side:
//!
//! | step | stage | geometry | CPU | CUDA |
//! |---|---|---|---|---|
//! | preprocessing | [`letterbox`]: frame → `T × T` letterbox (YOLO input) | [`Letterbox`] | [`letterbox::cpu`] | `kernels/letterbox.cu` |
//! | yolov8 | `detect/`: the detector's run and the check of its rows | | `detect/cpu.rs` | its device session, in `src/cuda/worker.rs` |
//! | postprocessing | [`select`]: the best detection row | [`best_detection`] | (the geometry itself) | `kernels/select.cu` |
//! | postprocessing | [`crop`]: the best box → `S × S` crop (estimator input) | [`CropBox`], [`crop_box`] | [`crop::cpu`] | `kernels/crop.cu` |
//! | efficientnet_v2 | `estimate/`: the estimator's run and the check of its value | | `estimate/cpu.rs` | its device session, in `src/cuda/worker.rs` |
//! | Model mode's input | [`resize`]: frame → f32 NCHW frame of any size | [`half_pixel_source`] | [`resize::cpu`] | `kernels/resize.cu` |
//!
//! [`sample`] is the bilinear sample the three resizes share (`kernels/geometry.cuh` on the device), and
//! [`Geometry`] the parameters of them all.
//!
//! The CUDA kernels mirror [`half_pixel_source`], [`crop_source`], [`AxisTap::new`] and [`bilinear`] line for
//! line, so every expression is written in `f32` in the order the spec gives (Rust never contracts
//! `a * b + c` into a fused multiply-add, so the rounding is the one shown). Why the coordinate arithmetic has
//! to match to the bit, not just approximately: at `x ≈ 3000` one `f32` ulp is `2.4e-4` pixels, and on a
//! full-contrast edge (0 next to 255) the sampled value moves by the same amount on the 0..1 scale, which is
//! more than the 1e-4 tolerance between backends.
//!
//! # The CPU halves
//!
//! ## Layouts
//! - Frames are `u8` RGB, interleaved (HWC), tightly packed: row stride `w * 3` bytes, `frame.len()` exactly
//!   `w * h * 3`. Frames with padded rows must be compacted by the caller.
//! - Outputs are `f32` planar (NCHW with N = 1): plane `c` is `out[c * W * H..(c + 1) * W * H]`, row-major.
//!   `out.len()` must be exactly `3 * W * H`.
//!
//! ## Buffers
//! Every CPU stage writes into the caller's `out` and allocates only a small per-call table (one entry per
//! output column: two source indices and a weight), never a frame-sized buffer. Each output row reads the
//! (at most two) source rows it needs, gathers each source pixel's three channels once, and writes all three
//! planes from them.
//!
//! ## Arithmetic
//! Exactly `docs/geometry.md`: source coordinates from [`half_pixel_source`] / [`crop_source`], taps from
//! [`AxisTap::new`], values `scale * bilinear(..)` with [`bilinear`], all in `f32`. The tests compare every
//! output value bit for bit with a per-pixel reference written straight from the spec.
//!
//! ## Why not `fast_image_resize`
//! Its `Bilinear` filter is a convolution whose support grows with the downscaling ratio (antialiased), so a
//! 3840 → 640 downscale averages about 12 source columns per output column, whereas ONNX
//! `Resize(mode="linear", coordinate_transformation_mode="half_pixel")` without antialiasing, which the
//! repository's models and the CUDA kernels run, reads exactly 2. It also has no `tf_crop_and_resize`
//! sampling and rounds through fixed-point for `u8`. Its results would differ from the contract by far
//! more than the 1e-4 tolerance, so the stages do not use it. Where an antialiased stretch *is* the contract
//! (a client that stretches frames with Pillow: [`resize::FrameResize::PillowBilinear`]), it was tried and
//! found one level off Pillow's own output on a share of the bytes (its fixed-point rounding is not
//! Pillow's), so [`resize::cpu::pillow_bilinear`] implements Pillow's algorithm instead, byte for byte
//! (tests/library/frame_resize.rs compares it with Pillow on upscaled photographs and an 8K downscale), and
//! the dependency is gone. `cargo bench --bench stages -- frame_resize` times both stretches.
//!
//! # Example: from a frame to the crop
//! ```
//! use clo_pipeline::stages::{Geometry, crop, letterbox, select_crop};
//! let g = Geometry::default();
//! let (w, h) = (64_u32, 36_u32);
//! let frame = vec![128_u8; (w * h * 3) as usize];
//! let side = g.letterbox as usize;
//! let mut yolo_input = vec![0.0_f32; 3 * side * side];
//! let lb = letterbox::cpu::letterbox(&frame, w, h, &g, &mut yolo_input)?;
//! // ... run the detector on `yolo_input`; here no row passes the threshold ...
//! let detections = [0.0_f32; 300 * 6];
//! let (best, crop_box) = select_crop(&detections, g.score_threshold, &lb);
//! assert_eq!(best, None);
//! let s = g.crop as usize;
//! let mut crop_input = vec![0.0_f32; 3 * s * s];
//! crop::cpu::crop_resize(&frame, w, h, &crop_box, g.crop, g.scale, &mut crop_input)?;
//! assert!((crop_input[0] - 128.0 / 255.0).abs() < 1e-6);
//! # Ok::<(), clo_pipeline::Error>(())
//! ```

pub mod crop;
pub(crate) mod detect;
pub(crate) mod estimate;
pub mod letterbox;
pub mod resize;
pub mod sample;
pub mod select;

#[cfg(test)]
mod reference;

pub use self::crop::{CropBox, crop_box, crop_source, select_crop};
pub use self::letterbox::Letterbox;
pub use self::resize::half_pixel_source;
pub use self::sample::{AxisTap, bilinear};
pub use self::select::{DETECTION_ROW, best_detection, detection_row};

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

/// `Err(InvalidParameter)` unless `min <= value <= MAX_SIDE`.
pub(crate) fn side_in_range(name: &'static str, value: u32, min: u32) -> Result<()> {
    if value < min || value > MAX_SIDE {
        return Err(Error::InvalidParameter { name, message: format!("{value} is outside {min}..={MAX_SIDE}") });
    }
    Ok(())
}

/// `Err(InvalidParameter)` unless `value` is finite.
pub(crate) fn finite(name: &'static str, value: f32) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::InvalidParameter { name, message: format!("{value} is not finite") });
    }
    Ok(())
}

/// `v` clamped to `[0, hi]` (`hi >= 0`); NaN gives 0. `f32::clamp` is not used because it panics on bad
/// bounds.
#[inline]
pub(crate) fn clamp(v: f32, hi: f32) -> f32 {
    v.max(0.0).min(hi)
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
}
