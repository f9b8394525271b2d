//! Model mode's input: the frame resized to the repository's input size as an f32 NCHW tensor (ONNX `Resize`,
//! `mode="linear"`, `coordinate_transformation_mode="half_pixel"`, no antialiasing). The letterbox uses the
//! same resize for its inner part.

pub mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

use super::clamp;

/// The source coordinate of destination index `dst` for a `half_pixel` resize of an axis of `src_len`
/// pixels to `dst_len` pixels (ONNX `Resize`, `coordinate_transformation_mode="half_pixel"`), in `f32`:
/// `s = dst_len / src_len`, `x = (dst + 0.5) / s - 0.5`, clamped to `[0, src_len - 1]`.
#[inline]
pub fn half_pixel_source(dst: u32, src_len: u32, dst_len: u32) -> f32 {
    let s = dst_len as f32 / src_len as f32;
    let x = (dst as f32 + 0.5) / s - 0.5;
    clamp(x, src_len.saturating_sub(1) as f32)
}
