//! The letterbox on the CPU, parallel over output rows with rayon.
//!
//! Layouts, buffers and arithmetic as in [the CPU halves](crate::stages#the-cpu-halves): `u8` RGB HWC frames in,
//! `f32` NCHW out, written into the caller's buffer, bit for bit the per-pixel formula of `docs/geometry.md`.

use super::Letterbox;
use crate::Result;
use crate::stages::Geometry;
use crate::stages::half_pixel_source;
use crate::stages::sample::AxisTap;
use crate::stages::sample::cpu::{
    blend_row, column_table, for_each_row, frame_stride, out_plane, pad_around, source_row,
};

/// Letterboxes a frame into `out`: `scale * resize(frame → new_w × new_h)` (half-pixel bilinear) placed at
/// `(pad_left, pad_top)` of a `g.letterbox`-sided square, `g.pad_value` elsewhere. See
/// [`Letterbox::new`] for the placement.
///
/// `frame`: `w × h` RGB `u8`, HWC, stride `w * 3`. `out`: `3 * T * T` `f32`, NCHW, `T = g.letterbox`.
///
/// # Errors
/// [`Error::InvalidParameter`](crate::Error::InvalidParameter) for an invalid `g` or a wrong `out` length; [`Error::Image`](crate::Error::Image) for a zero
/// side or a `frame` length other than `w * h * 3`.
pub fn letterbox(frame: &[u8], w: u32, h: u32, g: &Geometry, out: &mut [f32]) -> Result<Letterbox> {
    g.validate()?;
    let stride = frame_stride(frame, w, h)?;
    let lb = Letterbox::new(w, h, g.letterbox)?;
    let side = g.letterbox as usize;
    let plane = out_plane(out, g.letterbox, g.letterbox)?;
    let cols = column_table(lb.new_w, w, |x| half_pixel_source(x, w, lb.new_w));
    let (pad, scale) = (g.pad_value, g.scale);
    let (left, top) = (lb.pad_left as usize, lb.pad_top as usize);
    let (inner_w, inner_h) = (lb.new_w as usize, lb.new_h as usize);
    for_each_row(out, plane, side, |y, rows| {
        let Some(yy) = y.checked_sub(top).filter(|&yy| yy < inner_h) else {
            for row in rows {
                row.fill(pad);
            }
            return;
        };
        // `yy < new_h <= MAX_SIDE`, so the cast is exact.
        let tap = AxisTap::new(half_pixel_source(yy as u32, h, lb.new_h), h);
        let [r, g, b] = rows.map(|row| pad_around(row, left, inner_w, pad));
        blend_row(
            source_row(frame, stride, tap.i0),
            source_row(frame, stride, tap.i1),
            tap.frac,
            (scale, 0.0),
            &cols,
            r,
            g,
            b,
        );
    });
    Ok(lb)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::too_many_arguments)]
mod tests {
    use super::*;
    use crate::stages::reference::*;

    /// Reference letterbox: (f32 result, f64 result).
    fn letterbox_ref(frame: &[u8], w: u32, h: u32, g: &Geometry) -> (Vec<f32>, Vec<f64>) {
        let t = g.letterbox as usize;
        let tf = f64::from(g.letterbox);
        let r = (tf / f64::from(w)).min(tf / f64::from(h));
        let nw = ((f64::from(w) * r).round() as usize).clamp(1, t);
        let nh = ((f64::from(h) * r).round() as usize).clamp(1, t);
        let (pl, pt) = ((t - nw) / 2, (t - nh) / 2);
        let mut o32 = vec![0.0; 3 * t * t];
        let mut o64 = vec![0.0; 3 * t * t];
        for c in 0..3 {
            for y in 0..t {
                for x in 0..t {
                    let i = (c * t + y) * t + x;
                    if (pl..pl + nw).contains(&x) && (pt..pt + nh).contains(&y) {
                        let sx = half_pixel(x - pl, w, nw as u32);
                        let sy = half_pixel(y - pt, h, nh as u32);
                        o32[i] = g.scale * sample32(frame, w, h, c, sy, sx);
                        o64[i] = f64::from(g.scale) * sample64(frame, w, h, c, sy, sx);
                    } else {
                        o32[i] = g.pad_value;
                        o64[i] = f64::from(g.pad_value);
                    }
                }
            }
        }
        (o32, o64)
    }

    const SIZES: [(u32, u32); 16] = [
        (3840, 2160),
        (1920, 1080),
        (1, 1),
        (1, 9),
        (9, 1),
        (1, 2000),
        (2000, 1),
        (2, 2),
        (7, 13),
        (641, 359),
        (4000, 3000),
        (360, 1000),
        (640, 360),
        (640, 640),
        (256, 1),
        (1000, 999),
    ];

    #[test]
    fn letterbox_matches_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let g = Geometry::default();
        for (w, h) in SIZES {
            let frame = rng.frame(w, h);
            let mut out = vec![f32::NAN; 3 * 640 * 640];
            let lb = letterbox(&frame, w, h, &g, &mut out).unwrap();
            assert_eq!(lb, Letterbox::new(w, h, 640).unwrap());
            let (r32, r64) = letterbox_ref(&frame, w, h, &g);
            assert_matches(&format!("letterbox {w}x{h}"), &out, &r32, &r64, g.scale);
        }
        // Other letterbox sides, including 1 and larger than the frame.
        for (w, h, t) in [(3840, 2160, 1), (7, 13, 17), (100, 50, 333), (33, 77, 64)] {
            let g = Geometry { letterbox: t, ..g };
            let frame = rng.frame(w, h);
            let mut out = vec![f32::NAN; 3 * t as usize * t as usize];
            letterbox(&frame, w, h, &g, &mut out).unwrap();
            let (r32, r64) = letterbox_ref(&frame, w, h, &g);
            assert_matches(&format!("letterbox {w}x{h} in {t}"), &out, &r32, &r64, g.scale);
        }
    }

    #[test]
    fn letterbox_of_the_default_frame_pads_top_and_bottom() {
        let g = Geometry::default();
        let frame = vec![255_u8; 3840 * 2160 * 3];
        let mut out = vec![0.0; 3 * 640 * 640];
        let lb = letterbox(&frame, 3840, 2160, &g, &mut out).unwrap();
        assert_eq!((lb.new_w, lb.new_h, lb.pad_left, lb.pad_top), (640, 360, 0, 140));
        for c in 0..3 {
            for y in 0..640 {
                let v = out[(c * 640 + y) * 640 + 320];
                let want = if (140..500).contains(&y) { 255.0 * g.scale } else { g.pad_value };
                assert_eq!(v, want, "c {c} y {y}");
            }
        }
    }
}
