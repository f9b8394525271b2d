//! What the three CPU stages (letterbox, resize, crop) share: input checks and the bilinear resample of one
//! output row, parallel over output rows with rayon.

use rayon::prelude::*;

use super::{AxisTap, bilinear};
use crate::{Error, Result};

/// Channels per pixel (RGB).
pub(crate) const CHANNELS: usize = 3;

/// Rows per rayon task at least; a row is cheap, so tiny tasks would be mostly scheduling.
const MIN_ROWS_PER_TASK: usize = 4;

/// Row stride of a tightly packed `w × h` RGB frame after checking `frame.len() == w * h * 3`.
pub(crate) fn frame_stride(frame: &[u8], w: u32, h: u32) -> Result<usize> {
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
pub(crate) fn out_plane(out: &[f32], ow: u32, oh: u32) -> Result<usize> {
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

/// One output column's horizontal tap: the two source pixels' indices within a frame row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column {
    /// Pixel `i0`.
    pub(crate) i0: usize,
    /// Pixel `i1`.
    pub(crate) i1: usize,
    /// Weight of `i1` (`frac`).
    pub(crate) wx: f32,
}

/// The horizontal taps of `n` output columns over a source row of `src_w` pixels; `coord` gives each
/// column's source coordinate. The indices are at most `src_w - 1`.
pub(crate) fn column_table(n: u32, src_w: u32, coord: impl Fn(u32) -> f32) -> Vec<Column> {
    (0..n)
        .map(|x| {
            let tap = AxisTap::new(coord(x), src_w);
            Column { i0: tap.i0 as usize, i1: tap.i1 as usize, wx: tap.frac }
        })
        .collect()
}

/// Row `y` of a frame of row stride `stride` (empty if out of range, which the callers' taps exclude).
#[inline]
pub(crate) fn source_row(frame: &[u8], stride: usize, y: u32) -> &[u8] {
    let start = (y as usize).saturating_mul(stride);
    frame.get(start..start.saturating_add(stride)).unwrap_or(&[])
}

/// Splits an NCHW output into its three planes and runs `f(y, [r, g, b])` on every output row in parallel.
pub(crate) fn for_each_row<F>(out: &mut [f32], plane: usize, row_len: usize, f: F)
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
pub(crate) fn pad_around(row: &mut [f32], left: usize, len: usize, pad: f32) -> &mut [f32] {
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
/// [`Column`] per output value; writes `scale * bilinear(..) + offset` into the three planes' rows (a plane
/// order other than RGB is the caller's choice of which row it passes as `out_r`, `out_g`, `out_b`).
///
/// Works in batches of [`BATCH`] columns: first the four source pixels of each column are gathered into
/// per-channel, per-tap byte arrays, then each plane is computed with [`bilinear`] over contiguous arrays,
/// which the compiler vectorises. Every lane does exactly the `f32` operations of [`bilinear`], so the
/// result is the same as the per-pixel formula, bit for bit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn blend_row(
    r0: &[u8],
    r1: &[u8],
    wy: f32,
    (scale, offset): (f32, f32),
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
                *o = scale * bilinear(f32::from(a), f32::from(b), f32::from(c), f32::from(d), wx, wy) + offset;
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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use crate::convention::InputEncoding;
    use crate::stages::crop::cpu::crop_resize;
    use crate::stages::letterbox::cpu::letterbox;
    use crate::stages::resize::cpu::resize_to_nchw;
    use crate::stages::{CropBox, Geometry};
    use crate::{Error, Result};

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
        assert!(img(resize_to_nchw(&frame, 3, 3, 4, 4, &InputEncoding::RGB, &mut small)));
        assert!(img(crop_resize(&frame, 4, 4, &CropBox::full_frame(4, 4), 4, 1.0, &mut small)));
        assert!(img(crop_resize(&frame, 4, 0, &CropBox::full_frame(4, 3), 4, 1.0, &mut small)));

        // Output length.
        assert!(param(letterbox(&frame, 4, 3, &g, &mut small)));
        assert!(param(resize_to_nchw(&frame, 4, 3, 4, 3, &InputEncoding::RGB, &mut small)));
        assert!(param(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 3, 1.0, &mut small)));
        assert!(param(resize_to_nchw(&frame, 4, 3, u32::MAX, u32::MAX, &InputEncoding::RGB, &mut small)));

        // Parameters.
        assert!(param(letterbox(&frame, 4, 3, &Geometry { scale: f32::NAN, ..g }, &mut lb_out)));
        assert!(param(letterbox(&frame, 4, 3, &Geometry { letterbox: 0, ..g }, &mut lb_out)));
        assert!(param(resize_to_nchw(&frame, 4, 3, 0, 4, &InputEncoding::RGB, &mut small)));
        assert!(param(resize_to_nchw(
            &frame,
            4,
            3,
            4,
            4,
            &InputEncoding { scale: f32::INFINITY, ..InputEncoding::RGB },
            &mut small
        )));
        assert!(param(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 0, 1.0, &mut small)));
        assert!(param(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 4, f32::NAN, &mut small)));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let b = CropBox { x1: 0.0, y1: bad, x2: 1.0, y2: 1.0 };
            assert!(param(crop_resize(&frame, 4, 3, &b, 4, 1.0, &mut small)));
        }

        // The valid calls on the same buffers succeed.
        assert!(letterbox(&frame, 4, 3, &g, &mut lb_out).is_ok());
        assert!(resize_to_nchw(&frame, 4, 3, 4, 4, &InputEncoding::RGB, &mut small).is_ok());
        assert!(crop_resize(&frame, 4, 3, &CropBox::full_frame(4, 3), 4, 1.0, &mut small).is_ok());
    }
}
