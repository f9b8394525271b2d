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

/// Pillow's `Image.resize((out_w, out_h), Image.BILINEAR)` of an RGB8 frame ([`FrameResize::PillowBilinear`]),
/// into `out` (`out_w * out_h * 3` bytes, HWC), byte for byte what Pillow gives.
///
/// Pillow's algorithm, as its `Resample.c` defines it: per axis, output index `i` is centred at
/// `c = (i + 0.5) * s` with `s = in / out` (f64); the triangle filter `max(0, 1 - |t|)` is stretched by
/// `f = max(s, 1)` (antialiasing when downscaling) and covers source indices `trunc(c - f + 0.5)` up to (not
/// including) `trunc(c + f + 0.5)`, clamped to the image; each tap's weight is the filter at
/// `(j - c + 0.5) / f`, normalised by their sum and rounded half away from zero to a fixed-point integer with
/// 22 fractional bits. A horizontal pass (only when the width changes) writes `u8` rows, rounded
/// (`(2^21 + Σ p·w) >> 22`, clamped to 0..255), then a vertical pass (only when the height changes) does the
/// same over those rows. Output rows run in parallel (rayon).
///
/// [`FrameResize::PillowBilinear`]: super::FrameResize::PillowBilinear
///
/// # Errors
/// [`Error::Image`](crate::Error::Image) for a zero side or a `frame` length other than `w * h * 3`;
/// [`Error::InvalidParameter`](crate::Error::InvalidParameter) for an output side outside `1..=MAX_SIDE` or a
/// wrong `out` length; `scratch` (the horizontal pass's rows) is grown as needed and reused.
pub fn pillow_bilinear(
    frame: &[u8],
    w: u32,
    h: u32,
    out_w: u32,
    out_h: u32,
    scratch: &mut Vec<u8>,
    out: &mut [u8],
) -> Result<()> {
    use rayon::prelude::*;
    let stride = frame_stride(frame, w, h)?;
    side_in_range("out_w", out_w, 1)?;
    side_in_range("out_h", out_h, 1)?;
    let row_out = 3 * out_w as usize;
    if out.len() != row_out * out_h as usize {
        return Err(crate::Error::InvalidParameter {
            name: "frame_resize",
            message: format!("the output holds {} bytes, not {out_w}x{out_h}x3", out.len()),
        });
    }
    let vert = PillowTaps::new(h, out_h);
    // The rows the vertical pass reads.
    let (first, last) = (vert.first(), vert.last());
    // Horizontal pass (into `scratch`, rows first..last), or the frame's own rows when the width is the same.
    let (rows, row_len): (&[u8], usize) = if out_w != w {
        let horiz = PillowTaps::new(w, out_w);
        scratch.resize(row_out * (last - first), 0);
        scratch.par_chunks_mut(row_out).enumerate().for_each(|(r, dst)| {
            let src = frame.get((first + r) * stride..(first + r + 1) * stride).unwrap_or_default();
            for (x, px) in dst.chunks_exact_mut(3).enumerate() {
                let (lo, taps) = horiz.taps(x);
                let mut acc = [PILLOW_HALF; 3];
                for (j, &k) in taps.iter().enumerate() {
                    if let Some(p) = src.get(3 * (lo + j)..3 * (lo + j) + 3) {
                        for (a, &v) in acc.iter_mut().zip(p) {
                            *a += i32::from(v) * k;
                        }
                    }
                }
                for (d, a) in px.iter_mut().zip(acc) {
                    *d = pillow_clip8(a);
                }
            }
        });
        (&scratch[..], row_out)
    } else {
        (frame.get(first * stride..last * stride).unwrap_or_default(), stride)
    };
    if out_h == h {
        // No vertical pass: the (horizontally resized) rows are the output.
        for (dst, src) in out.chunks_exact_mut(row_out).zip(rows.chunks(row_len)) {
            dst.copy_from_slice(src.get(..row_out).unwrap_or_default());
        }
        return Ok(());
    }
    out.par_chunks_mut(row_out).enumerate().for_each(|(y, dst)| {
        let (lo, taps) = vert.taps(y);
        for (i, d) in dst.iter_mut().enumerate() {
            let mut acc = PILLOW_HALF;
            for (j, &k) in taps.iter().enumerate() {
                // `lo >= first` (the bounds are monotonic), and the rows hold `first..last`.
                if let Some(&v) = rows.get((lo + j - first) * row_len + i) {
                    acc += i32::from(v) * k;
                }
            }
            *d = pillow_clip8(acc);
        }
    });
    Ok(())
}

/// Fractional bits of Pillow's fixed-point weights.
const PILLOW_PRECISION: u32 = 22;
/// The rounding term every sum starts from.
const PILLOW_HALF: i32 = 1 << (PILLOW_PRECISION - 1);

/// `(acc >> 22)` clamped to `0..=255` (the shift is arithmetic, as in C on the platforms Pillow runs on).
fn pillow_clip8(acc: i32) -> u8 {
    (acc >> PILLOW_PRECISION).clamp(0, 255) as u8
}

/// One axis of Pillow's bilinear resample: for each output index, the first source index and the fixed-point
/// weights of its taps.
struct PillowTaps {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

impl PillowTaps {
    fn new(in_size: u32, out_size: u32) -> PillowTaps {
        let scale = f64::from(in_size) / f64::from(out_size);
        let filterscale = scale.max(1.0);
        let support = filterscale; // the triangle filter's support is 1
        let ksize = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(out_size as usize);
        let mut weights = vec![0_i32; ksize * out_size as usize];
        let mut raw = vec![0.0_f64; ksize];
        for (i, k) in weights.chunks_exact_mut(ksize).enumerate() {
            let center = (i as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // `as` truncates toward zero, like C's `(int)`.
            let lo = ((center - support + 0.5) as i64).max(0);
            let hi = ((center + support + 0.5) as i64).min(i64::from(in_size));
            let n = (hi - lo).clamp(0, ksize as i64) as usize;
            let raw = raw.get_mut(..n).unwrap_or_default();
            let mut sum = 0.0;
            for (j, r) in raw.iter_mut().enumerate() {
                let t = ((j as i64 + lo) as f64 - center + 0.5) * ss;
                let t = t.abs();
                *r = if t < 1.0 { 1.0 - t } else { 0.0 };
                sum += *r;
            }
            for (dst, r) in k.iter_mut().zip(raw.iter()) {
                let v = if sum != 0.0 { r / sum } else { *r };
                let fixed = v * f64::from(1_u32 << PILLOW_PRECISION);
                *dst = if v < 0.0 { (fixed - 0.5) as i32 } else { (fixed + 0.5) as i32 };
            }
            bounds.push((lo as usize, n));
        }
        PillowTaps { ksize, bounds, weights }
    }

    /// The first source index of output `i` and its weights.
    fn taps(&self, i: usize) -> (usize, &[i32]) {
        let (lo, n) = self.bounds.get(i).copied().unwrap_or((0, 0));
        (lo, self.weights.get(i * self.ksize..i * self.ksize + n).unwrap_or_default())
    }

    /// The first source index any output reads.
    fn first(&self) -> usize {
        self.bounds.first().map_or(0, |b| b.0)
    }

    /// One past the last source index any output reads.
    fn last(&self) -> usize {
        self.bounds.last().map_or(0, |b| b.0 + b.1)
    }
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
