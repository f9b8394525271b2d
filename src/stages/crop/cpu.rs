//! The crop on the CPU: the box resized to `S × S` (ONNX `tf_crop_and_resize` in pixel units), parallel over
//! output rows with rayon (layouts as in [the CPU halves](crate::stages#the-cpu-halves)).

use super::{CropBox, crop_source};
use crate::stages::sample::AxisTap;
use crate::stages::sample::cpu::{blend_row, column_table, for_each_row, frame_stride, out_plane, source_row};
use crate::stages::{finite, side_in_range};
use crate::{Error, Result};

/// Crops `b` out of a frame and resizes it to `side × side` (ONNX `tf_crop_and_resize` in pixel units):
/// output `(i, j)` is `scale * sample(frame, y, x)` with `y = crop_source(i, y1, y2, side)` and
/// `x = crop_source(j, x1, x2, side)`.
///
/// The box is first put through [`CropBox::ordered_clamped`] (a no-op for boxes from
/// [`crop_box`](super::crop_box)), so an inverted or partly outside box is the same as its ordered,
/// clamped form.
///
/// `frame`: `w × h` RGB `u8`, HWC, stride `w * 3`. `out`: `3 * side * side` `f32`, NCHW.
///
/// # Errors
/// [`Error::Image`] for a zero side or a `frame` length other than `w * h * 3`;
/// [`Error::InvalidParameter`] for a non-finite box coordinate, `side` outside `1..=MAX_SIDE`, a non-finite
/// `scale` or a wrong `out` length.
pub fn crop_resize(frame: &[u8], w: u32, h: u32, b: &CropBox, side: u32, scale: f32, out: &mut [f32]) -> Result<()> {
    let stride = frame_stride(frame, w, h)?;
    side_in_range("crop", side, 1)?;
    finite("scale", scale)?;
    if ![b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()) {
        return Err(Error::InvalidParameter { name: "crop box", message: format!("{b:?} is not finite") });
    }
    let plane = out_plane(out, side, side)?;
    let b = CropBox::ordered_clamped(b.x1, b.y1, b.x2, b.y2, w, h);
    let cols = column_table(side, w, |j| crop_source(j, b.x1, b.x2, side));
    for_each_row(out, plane, side as usize, |i, [r, g, bl]| {
        // `i < side <= MAX_SIDE`, so the cast is exact.
        let tap = AxisTap::new(crop_source(i as u32, b.y1, b.y2, side), h);
        blend_row(
            source_row(frame, stride, tap.i0),
            source_row(frame, stride, tap.i1),
            tap.frac,
            (scale, 0.0),
            &cols,
            r,
            g,
            bl,
        );
    });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::too_many_arguments)]
mod tests {
    use super::*;
    use crate::stages::reference::*;

    fn crop_ref(frame: &[u8], w: u32, h: u32, b: &CropBox, s: u32, scale: f32) -> (Vec<f32>, Vec<f64>) {
        // Order and clamp, per the spec's crop box rule.
        let cl = |v: f32, hi: u32| v.max(0.0).min((hi - 1) as f32);
        let (x1, x2) = (cl(b.x1.min(b.x2), w), cl(b.x1.max(b.x2), w));
        let (y1, y2) = (cl(b.y1.min(b.y2), h), cl(b.y1.max(b.y2), h));
        let su = s as usize;
        let coord = |i: usize, lo: f32, hi: f32| {
            if s == 1 { 0.5 * (lo + hi) } else { lo + i as f32 * (hi - lo) / (s - 1) as f32 }
        };
        let mut o32 = vec![0.0; 3 * su * su];
        let mut o64 = vec![0.0; 3 * su * su];
        for c in 0..3 {
            for i in 0..su {
                // No clamping here: the spec's `sample` takes the coordinate as computed (an f32 rounding
                // may put the last one an ulp past `W - 1`; `x1 = min(x0 + 1, W - 1)` still holds).
                let y = coord(i, y1, y2);
                for j in 0..su {
                    let x = coord(j, x1, x2);
                    let k = (c * su + i) * su + j;
                    o32[k] = scale * sample32(frame, w, h, c, y, x);
                    o64[k] = f64::from(scale) * sample64(frame, w, h, c, y, x);
                }
            }
        }
        (o32, o64)
    }

    /// Asserts bit-for-bit equality with the f32 reference and ≤ 1e-6 (on the 0..1 scale, so

    #[test]
    fn crop_resize_matches_reference() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        let frames =
            [(3840, 2160), (1920, 1080), (1, 1), (1, 9), (9, 1), (7, 13), (641, 359), (4000, 3000), (360, 1000)];
        for (w, h) in frames {
            let frame = rng.frame(w, h);
            let (wm, hm) = ((w - 1) as f32, (h - 1) as f32);
            let mut boxes = vec![
                CropBox::full_frame(w, h),
                // At the borders.
                CropBox { x1: 0.0, y1: 0.0, x2: wm * 0.3, y2: hm * 0.4 },
                CropBox { x1: wm * 0.7, y1: hm * 0.5, x2: wm, y2: hm },
                // Inverted.
                CropBox { x1: wm * 0.8, y1: hm * 0.9, x2: wm * 0.1, y2: hm * 0.2 },
                // Zero area, and zero width / height.
                CropBox { x1: wm * 0.5, y1: hm * 0.5, x2: wm * 0.5, y2: hm * 0.5 },
                CropBox { x1: wm * 0.25, y1: 0.0, x2: wm * 0.25, y2: hm },
                CropBox { x1: 0.0, y1: hm, x2: wm, y2: hm },
                // Partly and entirely outside (clamped).
                CropBox { x1: -100.0, y1: -5.5, x2: wm * 0.5, y2: hm + 300.0 },
                CropBox { x1: wm + 10.0, y1: hm + 10.0, x2: wm + 20.0, y2: hm + 30.0 },
            ];
            for _ in 0..4 {
                boxes.push(CropBox {
                    x1: rng.unit() * wm,
                    y1: rng.unit() * hm,
                    x2: rng.unit() * wm,
                    y2: rng.unit() * hm,
                });
            }
            let sides: &[u32] = if w * h > 1_000_000 { &[384] } else { &[384, 2, 1, 17] };
            for b in &boxes {
                for &s in sides {
                    let mut out = vec![f32::NAN; 3 * s as usize * s as usize];
                    crop_resize(&frame, w, h, b, s, 1.0 / 255.0, &mut out).unwrap();
                    let (r32, r64) = crop_ref(&frame, w, h, b, s, 1.0 / 255.0);
                    assert_matches(&format!("crop {w}x{h} {b:?} -> {s}"), &out, &r32, &r64, 1.0 / 255.0);
                }
            }
        }
    }

    #[test]
    fn crop_of_the_full_frame_keeps_the_corners() {
        let mut rng = Rng(5);
        let (w, h) = (1920, 1080);
        let frame = rng.frame(w, h);
        let mut out = vec![0.0; 3 * 384 * 384];
        crop_resize(&frame, w, h, &CropBox::full_frame(w, h), 384, 1.0, &mut out).unwrap();
        let plane = 384 * 384;
        for c in 0..3 {
            assert_eq!(out[c * plane], f32::from(p(&frame, w, c, 0, 0)));
            assert_eq!(out[c * plane + 383], f32::from(p(&frame, w, c, 0, 1919)));
            assert_eq!(out[c * plane + plane - 1], f32::from(p(&frame, w, c, 1079, 1919)));
        }
    }
}
