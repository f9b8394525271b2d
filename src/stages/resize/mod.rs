//! Model mode's input: the frame resized to the repository's input size as an f32 NCHW tensor (ONNX `Resize`,
//! `mode="linear"`, `coordinate_transformation_mode="half_pixel"`, no antialiasing). The letterbox uses the
//! same resize for its inner part.
//!
//! How a client stretches a frame of another size to the ensemble's 3840 × 2160 before sending it is the
//! client's choice, not the repository's (its models take only that size), so Model mode lets the user say
//! it: [`FrameResize`].

pub mod cpu;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;

use super::clamp;

/// How Model mode stretches a frame that is not the ensemble's input size to it, as this deployment's clients
/// do before they send it (the repository cannot say: its models take only that size). Frames of the input
/// size are never resized. [`PipelineBuilder::frame_resize`](crate::PipelineBuilder::frame_resize) sets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum FrameResize {
    /// Bilinear with half-pixel centres and no antialiasing, in `f32` (docs/geometry.md's resize): what ONNX
    /// `Resize(linear, half_pixel)`, OpenCV's `cv2.resize(.., INTER_LINEAR)` and
    /// `torch.nn.functional.interpolate(.., "bilinear", align_corners=False)` compute. The default.
    #[default]
    HalfPixelBilinear,
    /// Pillow's `Image.resize(size, Image.BILINEAR)`, byte for byte ([`cpu::pillow_bilinear`]): a triangle
    /// filter whose support widens with the downscaling ratio (antialiased), in fixed point to `u8`: what a
    /// client that stretches with PIL sends. Runs on the CPU (on a GPU pipeline, Model mode on a frame of
    /// another size takes the CPU path).
    PillowBilinear,
}

impl std::fmt::Display for FrameResize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameResize::HalfPixelBilinear => "half-pixel-bilinear",
            FrameResize::PillowBilinear => "pillow-bilinear",
        })
    }
}

impl std::str::FromStr for FrameResize {
    type Err = crate::Error;

    /// `half-pixel-bilinear` (also `opencv`, `onnx`) or `pillow-bilinear` (also `pillow`).
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "half-pixel-bilinear" | "opencv" | "onnx" => Ok(FrameResize::HalfPixelBilinear),
            "pillow-bilinear" | "pillow" => Ok(FrameResize::PillowBilinear),
            _ => Err(crate::Error::InvalidParameter {
                name: "frame_resize",
                message: format!("takes half-pixel-bilinear (opencv, onnx) or pillow-bilinear (pillow), not {s:?}"),
            }),
        }
    }
}

/// The source coordinate of destination index `dst` for a `half_pixel` resize of an axis of `src_len`
/// pixels to `dst_len` pixels (ONNX `Resize`, `coordinate_transformation_mode="half_pixel"`), in `f32`:
/// `s = dst_len / src_len`, `x = (dst + 0.5) / s - 0.5`, clamped to `[0, src_len - 1]`.
#[inline]
pub fn half_pixel_source(dst: u32, src_len: u32, dst_len: u32) -> f32 {
    let s = dst_len as f32 / src_len as f32;
    let x = (dst as f32 + 0.5) / s - 0.5;
    clamp(x, src_len.saturating_sub(1) as f32)
}
