//! Model mode's input tensor on the CPU: the half-pixel bilinear resize to any size, parallel over output rows
//! with rayon (layouts as in [the CPU halves](crate::stages#the-cpu-halves)).

use super::half_pixel_source;
use crate::Result;
use crate::convention::{ChannelOrder, InputEncoding};
use crate::stages::sample::AxisTap;
use crate::stages::sample::cpu::{
    CHANNELS, blend_row, column_table, for_each_row, frame_stride, out_plane, source_row,
};
use crate::stages::{finite, side_in_range};

/// Resizes a frame to `out_w × out_h` with the half-pixel bilinear resize and writes it as NCHW `f32` in
/// `encoding`: `scale * value + offset`, planes in `encoding.order` (Model mode's `original_image_3840_2160` is
/// `resize_to_nchw(.., 3840, 2160, &settled_encoding, ..)`). The aspect ratio is not kept. At equal size every
/// value is exactly `scale * (pixel as f32) + offset`, a plain copy.
///
/// `frame`: `w × h` RGB `u8`, HWC, stride `w * 3`. `out`: `3 * out_w * out_h` `f32`, NCHW.
///
/// # Errors
/// [`Error::Image`](crate::Error::Image) for a zero side or a `frame` length other than `w * h * 3`;
/// [`Error::InvalidParameter`](crate::Error::InvalidParameter) for an output side outside `1..=MAX_SIDE`, a
/// non-finite or zero scale, a non-finite offset, or a wrong `out` length.
pub fn resize_to_nchw(
    frame: &[u8],
    w: u32,
    h: u32,
    out_w: u32,
    out_h: u32,
    encoding: &InputEncoding,
    out: &mut [f32],
) -> Result<()> {
    let stride = frame_stride(frame, w, h)?;
    side_in_range("out_w", out_w, 1)?;
    side_in_range("out_h", out_h, 1)?;
    finite("scale", encoding.scale)?;
    encoding.validate()?;
    let plane = out_plane(out, out_w, out_h)?;
    let ow = out_w as usize;
    let affine = (encoding.scale, encoding.offset);
    // The planes in the encoding's order: RGB's red value goes to plane `order.plane(0)`, and so on.
    let bgr = encoding.order == ChannelOrder::Bgr;
    if (out_w, out_h) == (w, h) {
        // With `s = 1`, `half_pixel_source(i) == i` exactly and both weights are 0, so the bilinear blend
        // returns the pixel itself: this copy gives the same bits as the general path, faster.
        let (scale, offset) = affine;
        for_each_row(out, plane, ow, |y, [p0, p1, p2]| {
            let (r, g, b) = if bgr { (p2, p1, p0) } else { (p0, p1, p2) };
            let src = source_row(frame, stride, y as u32);
            for (((px, r), g), b) in src.chunks_exact(CHANNELS).zip(r).zip(g).zip(b) {
                if let &[pr, pg, pb] = px {
                    *r = scale * f32::from(pr) + offset;
                    *g = scale * f32::from(pg) + offset;
                    *b = scale * f32::from(pb) + offset;
                }
            }
        });
        return Ok(());
    }
    let cols = column_table(out_w, w, |x| half_pixel_source(x, w, out_w));
    for_each_row(out, plane, ow, |y, [p0, p1, p2]| {
        let (r, g, b) = if bgr { (p2, p1, p0) } else { (p0, p1, p2) };
        // `y < out_h <= MAX_SIDE`, so the cast is exact.
        let tap = AxisTap::new(half_pixel_source(y as u32, h, out_h), h);
        blend_row(
            source_row(frame, stride, tap.i0),
            source_row(frame, stride, tap.i1),
            tap.frac,
            affine,
            &cols,
            r,
            g,
            b,
        );
    });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::too_many_arguments)]
mod tests {
    use super::*;
    use crate::stages::reference::*;

    fn resize_ref(frame: &[u8], w: u32, h: u32, ow: u32, oh: u32, scale: f32) -> (Vec<f32>, Vec<f64>) {
        let (ow, oh) = (ow as usize, oh as usize);
        let mut o32 = vec![0.0; 3 * ow * oh];
        let mut o64 = vec![0.0; 3 * ow * oh];
        for c in 0..3 {
            for y in 0..oh {
                let sy = half_pixel(y, h, oh as u32);
                for x in 0..ow {
                    let sx = half_pixel(x, w, ow as u32);
                    let i = (c * oh + y) * ow + x;
                    o32[i] = scale * sample32(frame, w, h, c, sy, sx);
                    o64[i] = f64::from(scale) * sample64(frame, w, h, c, sy, sx);
                }
            }
        }
        (o32, o64)
    }

    fn rgb(scale: f32) -> InputEncoding {
        InputEncoding { scale, ..InputEncoding::RGB }
    }

    #[test]
    fn other_encodings_are_the_rgb_resize_with_offset_and_planes_reordered() {
        let mut rng = Rng(5);
        for ((w, h), (ow, oh)) in [((33, 17), (64, 36)), ((64, 36), (64, 36)), ((640, 360), (97, 55))] {
            let frame = rng.frame(w, h);
            let n = ow as usize * oh as usize;
            let mut base = vec![0.0; 3 * n];
            resize_to_nchw(&frame, w, h, ow, oh, &rgb(0.5), &mut base).unwrap();
            let enc = InputEncoding { scale: 0.5, offset: -3.25, order: ChannelOrder::Bgr };
            let mut out = vec![f32::NAN; 3 * n];
            resize_to_nchw(&frame, w, h, ow, oh, &enc, &mut out).unwrap();
            for c in 0..3 {
                let plane = enc.order.plane(c);
                for i in 0..n {
                    assert_eq!(out[plane * n + i], base[c * n + i] + enc.offset, "{w}x{h} c {c} i {i}");
                }
            }
        }
    }

    #[test]
    fn resize_to_nchw_matches_reference() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let cases = [
            ((1920, 1080), (3840, 2160), 1.0),
            ((4000, 3000), (3840, 2160), 1.0),
            ((7, 13), (640, 360), 1.0 / 255.0),
            ((1, 1), (5, 3), 1.0),
            ((641, 359), (100, 57), 1.0),
            ((1, 2000), (3, 7), 1.0),
            ((2000, 1), (7, 3), 1.0),
            ((360, 1000), (1, 1), 1.0),
            ((3840, 2160), (640, 360), 1.0 / 255.0),
        ];
        for ((w, h), (ow, oh), scale) in cases {
            let frame = rng.frame(w, h);
            let mut out = vec![f32::NAN; 3 * ow as usize * oh as usize];
            resize_to_nchw(&frame, w, h, ow, oh, &rgb(scale), &mut out).unwrap();
            let (r32, r64) = resize_ref(&frame, w, h, ow, oh, scale);
            assert_matches(&format!("resize {w}x{h} -> {ow}x{oh}"), &out, &r32, &r64, scale);
        }
    }

    #[test]
    fn resize_to_nchw_at_equal_size_is_a_scaled_copy() {
        let mut rng = Rng(77);
        for (w, h) in [(3840, 2160), (1, 1), (7, 13), (1, 9), (9, 1), (641, 359)] {
            let frame = rng.frame(w, h);
            let plane = w as usize * h as usize;
            for scale in [1.0, 1.0 / 255.0] {
                let mut out = vec![f32::NAN; 3 * plane];
                resize_to_nchw(&frame, w, h, w, h, &rgb(scale), &mut out).unwrap();
                for (i, px) in frame.chunks_exact(3).enumerate() {
                    for c in 0..3 {
                        assert_eq!(out[c * plane + i], scale * f32::from(px[c]), "{w}x{h} pixel {i} c {c}");
                    }
                }
                // And the general path (same coordinates) gives the same bits.
                if plane < 100_000 {
                    let (r32, r64) = resize_ref(&frame, w, h, w, h, scale);
                    assert_matches(&format!("identity {w}x{h}"), &out, &r32, &r64, scale);
                }
            }
        }
    }
}
