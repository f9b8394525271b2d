//! The crop on the GPU: `crop_resize_u8_to_f32_nchw` (`kernels/crop.cu`), the device twin of
//! [`cpu::crop_resize`](super::cpu::crop_resize), bit for bit, reading its box from device memory (where
//! [`select::cuda::best_box`](crate::stages::select) wrote it).

use cudarc::driver::{CudaFunction, CudaStream, PushKernelArg};

use crate::Result;
use crate::cuda::driver_error;
use crate::cuda::kernels::{DeviceBuffer, DeviceFrame, grid_2d, int, rgb_len};

/// Crops the box in `crop_box` (4 floats, `x1, y1, x2, y2` in frame pixels; ordered and clamped by the
/// kernel) out of `frame` and resizes it to `side × side` into `out` (f32 NCHW `[1, 3, side, side]`), times
/// `scale`, on `stream`.
///
/// # Errors
/// [`Error::Cuda`](crate::Error::Cuda) when a buffer is smaller than that or the launch fails.
pub(crate) fn crop_resize(
    stream: &CudaStream,
    kernel: &CudaFunction,
    frame: &DeviceFrame<'_>,
    crop_box: DeviceBuffer<'_, f32>,
    side: u32,
    scale: f32,
    out: DeviceBuffer<'_, f32>,
) -> Result<()> {
    crop_box.require(4, "the crop box")?;
    out.require(rgb_len(side, side)?, "the crop")?;
    let side_i = int(side, "the crop side")?;
    let (src, b, dst) = (frame.buf.ptr(), crop_box.ptr(), out.ptr());
    // SAFETY: the arguments are `crop_resize_u8_to_f32_nchw`'s parameters (kernels/crop.cu) in order and
    // type: (const u8*, int w, int h, int pitch, const float* crop_box, float* out, int side, float scale). The
    // kernel reads `crop_box[0..4]` and frame rows `0..h` of `pitch` bytes (it clamps the box and its samples
    // to the frame) and writes only `out[0..3 * side²]` (threads outside `side × side` return);
    // `DeviceFrame::new` and the `require`s above checked that the buffers hold that much, and they stay
    // allocated until the stream has run this launch.
    unsafe {
        stream
            .launch_builder(kernel)
            .arg(&src)
            .arg(&frame.w)
            .arg(&frame.h)
            .arg(&frame.pitch)
            .arg(&b)
            .arg(&dst)
            .arg(&side_i)
            .arg(&scale)
            .launch(grid_2d(side, side))
    }
    .map(drop)
    .map_err(|e| driver_error("launching crop_resize_u8_to_f32_nchw", e))
}
