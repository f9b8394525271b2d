//! The bilinear sample of `docs/geometry.md` that every resize shares (letterbox, Model mode's input, crop):
//! per-axis taps and the blend, in `f32`, in the spec's order (`kernels/geometry.cuh` on the GPU). `cpu.rs`
//! holds the row machinery the three CPU stages run on.

pub(crate) mod cpu;

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
    use crate::stages::{crop_source, half_pixel_source};

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
