//! The image stages on the CPU, parallel over output rows with rayon.
//!
//! # Layouts
//! - Frames are `u8` RGB, interleaved (HWC), tightly packed: row stride `w * 3` bytes, `frame.len()` exactly
//!   `w * h * 3`. Frames with padded rows must be compacted by the caller.
//! - Outputs are `f32` planar (NCHW with N = 1): plane `c` is `out[c * W * H..(c + 1) * W * H]`, row-major.
//!   `out.len()` must be exactly `3 * W * H`.
//!
//! # Buffers
//! Every function writes into the caller's `out` and allocates only a small per-call table (one entry per
//! output column: two source indices and a weight), never a frame-sized buffer. Each output row reads the
//! (at most two) source rows it needs, gathers each source pixel's three channels once, and writes all three
//! planes from them.
//!
//! # Arithmetic
//! Exactly `docs/geometry.md`: source coordinates from [`half_pixel_source`] / [`crop_source`], taps from
//! [`AxisTap::new`], values `scale * bilinear(..)` with [`bilinear`], all in `f32`. The tests compare every
//! output value bit for bit with a per-pixel reference written straight from the spec.
//!
//! # Why not `fast_image_resize`
//! Its `Bilinear` filter is a convolution whose support grows with the downscaling ratio (antialiased), so a
//! 3840 → 640 downscale averages about 12 source columns per output column, whereas ONNX
//! `Resize(mode="linear", coordinate_transformation_mode="half_pixel")` without antialiasing, which the
//! repository's models and the CUDA kernels run, reads exactly 2. It also has no `tf_crop_and_resize`
//! sampling and rounds through fixed-point for `u8`. Its results would differ from the contract by far
//! more than the 1e-4 tolerance, so it is not used here.

use rayon::prelude::*;

use super::geometry::{AxisTap, CropBox, Geometry, Letterbox, MAX_SIDE, bilinear, crop_source, half_pixel_source};
use crate::{Error, Result};

/// Channels per pixel (RGB).
const CHANNELS: usize = 3;

/// Rows per rayon task at least; a row is cheap, so tiny tasks would be mostly scheduling.
const MIN_ROWS_PER_TASK: usize = 4;

/// Letterboxes a frame into `out`: `scale * resize(frame → new_w × new_h)` (half-pixel bilinear) placed at
/// `(pad_left, pad_top)` of a `g.letterbox`-sided square, `g.pad_value` elsewhere. See
/// [`Letterbox::new`] for the placement.
///
/// `frame`: `w × h` RGB `u8`, HWC, stride `w * 3`. `out`: `3 * T * T` `f32`, NCHW, `T = g.letterbox`.
///
/// # Errors
/// [`Error::InvalidParameter`] for an invalid `g` or a wrong `out` length; [`Error::Image`] for a zero
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
            scale,
            &cols,
            r,
            g,
            b,
        );
    });
    Ok(lb)
}

/// Resizes a frame to `out_w × out_h` with the half-pixel bilinear resize and writes `scale * value` as NCHW
/// `f32` (Model mode's `original_image_3840_2160` is `resize_to_nchw(.., 3840, 2160, 1.0, ..)`). The aspect
/// ratio is not kept. At equal size every value is exactly `scale * (pixel as f32)`, a plain copy.
///
/// `frame`: `w × h` RGB `u8`, HWC, stride `w * 3`. `out`: `3 * out_w * out_h` `f32`, NCHW.
///
/// # Errors
/// [`Error::Image`] for a zero side or a `frame` length other than `w * h * 3`;
/// [`Error::InvalidParameter`] for an output side outside `1..=MAX_SIDE`, a non-finite `scale` or a wrong
/// `out` length.
pub fn resize_to_nchw(frame: &[u8], w: u32, h: u32, out_w: u32, out_h: u32, scale: f32, out: &mut [f32]) -> Result<()> {
    let stride = frame_stride(frame, w, h)?;
    side_param("out_w", out_w, 1)?;
    side_param("out_h", out_h, 1)?;
    finite_param("scale", scale)?;
    let plane = out_plane(out, out_w, out_h)?;
    let ow = out_w as usize;
    if (out_w, out_h) == (w, h) {
        // With `s = 1`, `half_pixel_source(i) == i` exactly and both weights are 0, so the bilinear blend
        // returns the pixel itself: this copy gives the same bits as the general path, faster.
        for_each_row(out, plane, ow, |y, [r, g, b]| {
            let src = source_row(frame, stride, y as u32);
            for (((px, r), g), b) in src.chunks_exact(CHANNELS).zip(r).zip(g).zip(b) {
                if let &[pr, pg, pb] = px {
                    *r = scale * f32::from(pr);
                    *g = scale * f32::from(pg);
                    *b = scale * f32::from(pb);
                }
            }
        });
        return Ok(());
    }
    let cols = column_table(out_w, w, |x| half_pixel_source(x, w, out_w));
    for_each_row(out, plane, ow, |y, [r, g, b]| {
        // `y < out_h <= MAX_SIDE`, so the cast is exact.
        let tap = AxisTap::new(half_pixel_source(y as u32, h, out_h), h);
        blend_row(
            source_row(frame, stride, tap.i0),
            source_row(frame, stride, tap.i1),
            tap.frac,
            scale,
            &cols,
            r,
            g,
            b,
        );
    });
    Ok(())
}

/// Crops `b` out of a frame and resizes it to `side × side` (ONNX `tf_crop_and_resize` in pixel units):
/// output `(i, j)` is `scale * sample(frame, y, x)` with `y = crop_source(i, y1, y2, side)` and
/// `x = crop_source(j, x1, x2, side)`.
///
/// The box is first put through [`CropBox::ordered_clamped`] (a no-op for boxes from
/// [`crop_box`](super::geometry::crop_box)), so an inverted or partly outside box is the same as its ordered,
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
    side_param("crop", side, 1)?;
    finite_param("scale", scale)?;
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
            scale,
            &cols,
            r,
            g,
            bl,
        );
    });
    Ok(())
}

/// Row stride of a tightly packed `w × h` RGB frame after checking `frame.len() == w * h * 3`.
fn frame_stride(frame: &[u8], w: u32, h: u32) -> Result<usize> {
    let image_err = |message: String| Error::Image { path: None, message, source: None };
    if w == 0 || h == 0 {
        return Err(image_err(format!("frame is {w}x{h}; both sides must be at least 1 pixel")));
    }
    let stride = (w as usize).checked_mul(CHANNELS);
    let len = stride.and_then(|s| s.checked_mul(h as usize));
    match (stride, len) {
        (Some(stride), Some(len)) if len == frame.len() => Ok(stride),
        (_, Some(len)) => Err(image_err(format!(
            "a {w}x{h} RGB frame (tightly packed, 3 bytes a pixel) has {len} bytes, got {}",
            frame.len()
        ))),
        _ => Err(image_err(format!("a {w}x{h} RGB frame is too large to address"))),
    }
}

/// Plane size of an `ow × oh` NCHW output after checking `out.len() == 3 * ow * oh`.
fn out_plane(out: &[f32], ow: u32, oh: u32) -> Result<usize> {
    let sizes = (ow as usize).checked_mul(oh as usize).and_then(|p| Some((p, p.checked_mul(CHANNELS)?)));
    match sizes {
        Some((plane, len)) if len == out.len() => Ok(plane),
        Some((_, len)) => Err(Error::InvalidParameter {
            name: "out",
            message: format!("a 3x{oh}x{ow} f32 NCHW tensor has {len} values, the buffer has {}", out.len()),
        }),
        None => Err(Error::InvalidParameter { name: "out", message: format!("3x{oh}x{ow} is too large") }),
    }
}

fn side_param(name: &'static str, value: u32, min: u32) -> Result<()> {
    if value < min || value > MAX_SIDE {
        return Err(Error::InvalidParameter { name, message: format!("{value} is outside {min}..={MAX_SIDE}") });
    }
    Ok(())
}

fn finite_param(name: &'static str, value: f32) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::InvalidParameter { name, message: format!("{value} is not finite") });
    }
    Ok(())
}

/// One output column's horizontal tap: the two source pixels' indices within a frame row.
#[derive(Clone, Copy, Debug)]
struct Column {
    /// Pixel `i0`.
    i0: usize,
    /// Pixel `i1`.
    i1: usize,
    /// Weight of `i1` (`frac`).
    wx: f32,
}

/// The horizontal taps of `n` output columns over a source row of `src_w` pixels; `coord` gives each
/// column's source coordinate. The indices are at most `src_w - 1`.
fn column_table(n: u32, src_w: u32, coord: impl Fn(u32) -> f32) -> Vec<Column> {
    (0..n)
        .map(|x| {
            let tap = AxisTap::new(coord(x), src_w);
            Column { i0: tap.i0 as usize, i1: tap.i1 as usize, wx: tap.frac }
        })
        .collect()
}

/// Row `y` of a frame of row stride `stride` (empty if out of range, which the callers' taps exclude).
#[inline]
fn source_row(frame: &[u8], stride: usize, y: u32) -> &[u8] {
    let start = (y as usize).saturating_mul(stride);
    frame.get(start..start.saturating_add(stride)).unwrap_or(&[])
}

/// Splits an NCHW output into its three planes and runs `f(y, [r, g, b])` on every output row in parallel.
fn for_each_row<F>(out: &mut [f32], plane: usize, row_len: usize, f: F)
where
    F: Fn(usize, [&mut [f32]; 3]) + Sync + Send,
{
    let Some((r, rest)) = out.split_at_mut_checked(plane) else {
        return;
    };
    let Some((g, b)) = rest.split_at_mut_checked(plane) else {
        return;
    };
    let row_len = row_len.max(1);
    r.par_chunks_mut(row_len)
        .zip(g.par_chunks_mut(row_len))
        .zip(b.par_chunks_mut(row_len))
        .with_min_len(MIN_ROWS_PER_TASK)
        .enumerate()
        .for_each(|(y, ((r, g), b))| f(y, [r, g, b]));
}

/// Fills `row` with `pad` outside `[left, left + len)` and returns that middle part (empty if it does not
/// fit, which [`Letterbox::new`] excludes).
fn pad_around(row: &mut [f32], left: usize, len: usize, pad: f32) -> &mut [f32] {
    let end = left.saturating_add(len);
    if end > row.len() {
        row.fill(pad);
        return &mut [];
    }
    // `left <= end <= row.len()` was just checked, so neither split can panic.
    let (head, rest) = row.split_at_mut(left);
    let (mid, tail) = rest.split_at_mut(len);
    head.fill(pad);
    tail.fill(pad);
    mid
}

/// Output columns handled per batch by [`blend_row`] (a power of two): the batch's gathered source bytes
/// and weights live on the stack, 1 KiB.
const BATCH: usize = 64;

/// One output row of a bilinear resample: source rows `r0` (weight `1 - wy`) and `r1` (weight `wy`), one
/// [`Column`] per output value; writes `scale * bilinear(..)` into the three planes' rows.
///
/// Works in batches of [`BATCH`] columns: first the four source pixels of each column are gathered into
/// per-channel, per-tap byte arrays, then each plane is computed with [`bilinear`] over contiguous arrays,
/// which the compiler vectorises. Every lane does exactly the `f32` operations of [`bilinear`], so the
/// result is the same as the per-pixel formula, bit for bit.
#[allow(clippy::too_many_arguments)]
fn blend_row(
    r0: &[u8],
    r1: &[u8],
    wy: f32,
    scale: f32,
    cols: &[Column],
    out_r: &mut [f32],
    out_g: &mut [f32],
    out_b: &mut [f32],
) {
    let (px0, px1) = (pixels(r0), pixels(r1));
    let batches =
        cols.chunks(BATCH).zip(out_r.chunks_mut(BATCH)).zip(out_g.chunks_mut(BATCH)).zip(out_b.chunks_mut(BATCH));
    for (((cols, out_r), out_g), out_b) in batches {
        // taps[channel][tap][k]: tap 0 = (r0, i0), 1 = (r0, i1), 2 = (r1, i0), 3 = (r1, i1).
        let mut taps = [[[0_u8; BATCH]; 4]; CHANNELS];
        let mut wxs = [0.0_f32; BATCH];
        for (k, (c, wx)) in cols.iter().zip(wxs.iter_mut()).enumerate() {
            *wx = c.wx;
            // `k < BATCH` already (`cols` is one batch); the mask, a no-op, lets the compiler see it.
            let k = k & (BATCH - 1);
            let quad = [pixel(px0, c.i0), pixel(px0, c.i1), pixel(px1, c.i0), pixel(px1, c.i1)];
            for (t, px) in quad.iter().enumerate() {
                for (ch, &v) in px.iter().enumerate() {
                    // In bounds by construction: ch < CHANNELS (px has 3 values), t < 4 (quad), k < BATCH.
                    #[allow(clippy::indexing_slicing)]
                    {
                        taps[ch][t][k] = v;
                    }
                }
            }
        }
        for (out, [p00, p01, p10, p11]) in [out_r, out_g, out_b].into_iter().zip(&taps) {
            let lanes = out.iter_mut().zip(&wxs).zip(p00.iter().zip(p01)).zip(p10.iter().zip(p11));
            for (((o, &wx), (&a, &b)), (&c, &d)) in lanes {
                *o = scale * bilinear(f32::from(a), f32::from(b), f32::from(c), f32::from(d), wx, wy);
            }
        }
    }
}

/// A frame row as pixels (empty if its length is not a multiple of 3, which [`frame_stride`] excludes).
#[inline]
fn pixels(row: &[u8]) -> &[[u8; CHANNELS]] {
    bytemuck::try_cast_slice(row).unwrap_or(&[])
}

/// Pixel `i` of a row (zeros if out of range, which the column tables exclude).
#[inline(always)]
fn pixel(row: &[[u8; CHANNELS]], i: usize) -> [u8; CHANNELS] {
    row.get(i).copied().unwrap_or([0; CHANNELS])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::too_many_arguments)]
mod tests {
    //! Every fast path against a slow per-pixel reference written straight from `docs/geometry.md`:
    //! `*_ref32` uses the spec's `f32` arithmetic and must agree bit for bit; `*_ref64` does the blend and
    //! scaling in `f64` (coordinates stay `f32`, as the spec defines them) and must agree within 1e-6 on the 0..1 scale (`1e-6 * 255 * scale` in output units).
    use super::*;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn frame(&mut self, w: u32, h: u32) -> Vec<u8> {
            (0..w as usize * h as usize * 3).map(|_| (self.next() >> 56) as u8).collect()
        }
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    fn p(frame: &[u8], w: u32, c: usize, y: usize, x: usize) -> u8 {
        frame[(y * w as usize + x) * 3 + c]
    }

    /// `sample(img, c, y, x)` of the spec, `f32`.
    fn sample32(frame: &[u8], w: u32, h: u32, c: usize, y: f32, x: f32) -> f32 {
        let x0 = x.floor() as usize;
        let x1 = (x0 + 1).min(w as usize - 1);
        let wx = x - x0 as f32;
        let y0 = y.floor() as usize;
        let y1 = (y0 + 1).min(h as usize - 1);
        let wy = y - y0 as f32;
        let q = |yy, xx| p(frame, w, c, yy, xx) as f32;
        (1.0 - wy) * ((1.0 - wx) * q(y0, x0) + wx * q(y0, x1)) + wy * ((1.0 - wx) * q(y1, x0) + wx * q(y1, x1))
    }

    /// The same sample with the blend in `f64`.
    fn sample64(frame: &[u8], w: u32, h: u32, c: usize, y: f32, x: f32) -> f64 {
        let (x, y) = (f64::from(x), f64::from(y));
        let x0 = x.floor() as usize;
        let x1 = (x0 + 1).min(w as usize - 1);
        let wx = x - x0 as f64;
        let y0 = y.floor() as usize;
        let y1 = (y0 + 1).min(h as usize - 1);
        let wy = y - y0 as f64;
        let q = |yy, xx| f64::from(p(frame, w, c, yy, xx));
        (1.0 - wy) * ((1.0 - wx) * q(y0, x0) + wx * q(y0, x1)) + wy * ((1.0 - wx) * q(y1, x0) + wx * q(y1, x1))
    }

    /// The spec's half-pixel source coordinate, written out again.
    fn half_pixel(o: usize, src: u32, dst: u32) -> f32 {
        let s = dst as f32 / src as f32;
        let x = (o as f32 + 0.5) / s - 0.5;
        x.max(0.0).min((src - 1) as f32)
    }

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
    /// `1e-6 * 255 * scale` in output units) with the f64 one.
    fn assert_matches(what: &str, got: &[f32], r32: &[f32], r64: &[f64], scale: f32) {
        let tol = 1e-6 * 255.0 * f64::from(scale);
        assert_eq!(got.len(), r32.len(), "{what}: length");
        for (i, ((&g, &a), &b)) in got.iter().zip(r32).zip(r64).enumerate() {
            assert_eq!(g.to_bits(), a.to_bits(), "{what}: value {i}: {g} vs reference {a}");
            assert!((f64::from(g) - b).abs() <= tol, "{what}: value {i}: {g} vs f64 reference {b}");
        }
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
            resize_to_nchw(&frame, w, h, ow, oh, scale, &mut out).unwrap();
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
                resize_to_nchw(&frame, w, h, w, h, scale, &mut out).unwrap();
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

    #[test]
    fn bad_inputs_are_typed_errors() {
        let g = Geometry::default();
        let frame = vec![0_u8; 4 * 3 * 3];
        let mut lb_out = vec![0.0; 3 * 640 * 640];
        let mut small = vec![0.0; 3 * 4 * 4];
        fn img<T>(r: Result<T>) -> bool {
            matches!(r, Err(Error::Image { .. }))
        }
        fn param<T>(r: Result<T>) -> bool {
            matches!(r, Err(Error::InvalidParameter { .. }))
        }

        // Frame length, zero and huge sizes.
        assert!(img(letterbox(&frame, 4, 4, &g, &mut lb_out)));
        assert!(img(letterbox(&frame, 0, 3, &g, &mut lb_out)));
        assert!(img(letterbox(&frame, u32::MAX, u32::MAX, &g, &mut lb_out)));
        assert!(img(letterbox(&[], 0, 0, &g, &mut lb_out)));
        assert!(img(resize_to_nchw(&frame, 3, 3, 4, 4, 1.0, &mut small)));
        assert!(img(crop_resize(&frame, 4, 4, &CropBox::full_frame(4, 4), 4, 1.0, &mut small)));
        assert!(img(crop_resize(&frame, 4, 0, &CropBox::full_frame(4, 3), 4, 1.0, &mut small)));

        // Output length.
        assert!(param(letterbox(&frame, 4, 3, &g, &mut small)));
        assert!(param(resize_to_nchw(&frame, 4, 3, 4, 3, 1.0, &mut small)));
        assert!(param(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 3, 1.0, &mut small)));
        assert!(param(resize_to_nchw(&frame, 4, 3, u32::MAX, u32::MAX, 1.0, &mut small)));

        // Parameters.
        assert!(param(letterbox(&frame, 4, 3, &Geometry { scale: f32::NAN, ..g }, &mut lb_out)));
        assert!(param(letterbox(&frame, 4, 3, &Geometry { letterbox: 0, ..g }, &mut lb_out)));
        assert!(param(resize_to_nchw(&frame, 4, 3, 0, 4, 1.0, &mut small)));
        assert!(param(resize_to_nchw(&frame, 4, 3, 4, 4, f32::INFINITY, &mut small)));
        assert!(param(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 0, 1.0, &mut small)));
        assert!(param(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 4, f32::NAN, &mut small)));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let b = CropBox { x1: 0.0, y1: bad, x2: 1.0, y2: 1.0 };
            assert!(param(crop_resize(&frame, 4, 3, &b, 4, 1.0, &mut small)));
        }

        // The valid calls on the same buffers succeed.
        assert!(letterbox(&frame, 4, 3, &g, &mut lb_out).is_ok());
        assert!(resize_to_nchw(&frame, 4, 3, 4, 4, 1.0, &mut small).is_ok());
        assert!(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 4, 1.0, &mut small).is_ok());
    }
}
