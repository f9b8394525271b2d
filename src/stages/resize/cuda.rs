//! Model mode's input tensor on the GPU: `resize_u8_to_f32_nchw` (`kernels/resize.cu`), the device twin of
//! [`cpu::resize_to_nchw`](super::cpu::resize_to_nchw), bit for bit.

use cudarc::driver::{CudaFunction, CudaStream, PushKernelArg};

use crate::Result;
use crate::convention::{ChannelOrder, InputEncoding};
use crate::cuda::driver_error;
use crate::cuda::kernels::{DeviceBuffer, DeviceFrame, grid_2d, int, rgb_len};

/// Resizes `frame` to `out_w × out_h` (half-pixel bilinear) into `out` (f32 NCHW `[1, 3, out_h, out_w]`) in
/// `encoding` (`scale * value + offset`, planes in its order), on `stream`.
///
/// # Errors
/// [`Error::Cuda`](crate::Error::Cuda) when `out` is smaller than `3 × out_w × out_h` or the launch fails.
pub(crate) fn resize(
    stream: &CudaStream,
    kernel: &CudaFunction,
    frame: &DeviceFrame<'_>,
    out_w: u32,
    out_h: u32,
    encoding: &InputEncoding,
    out: DeviceBuffer<'_, f32>,
) -> Result<()> {
    encoding.validate()?;
    let (scale, offset) = (encoding.scale, encoding.offset);
    let bgr: i32 = i32::from(encoding.order == ChannelOrder::Bgr);
    out.require(rgb_len(out_w, out_h)?, "the resized frame")?;
    let (ow, oh) = (int(out_w, "the output width")?, int(out_h, "the output height")?);
    let (src, dst) = (frame.buf.ptr(), out.ptr());
    // SAFETY: the arguments are `resize_u8_to_f32_nchw`'s parameters (kernels/resize.cu) in order and type:
    // (const u8*, int w, int h, int pitch, float*, int out_w, int out_h, float scale, float offset, int bgr).
    // The kernel writes only `out[0..3 * out_w * out_h]` (threads outside `out_w × out_h` return; `bgr` only
    // permutes the three planes) and reads only frame rows `0..h` of `pitch` bytes (its sample clamps to the
    // frame); `DeviceFrame::new` and the `require` above checked that both buffers hold that much, and both stay
    // allocated until the stream has run this launch.
    unsafe {
        stream
            .launch_builder(kernel)
            .arg(&src)
            .arg(&frame.w)
            .arg(&frame.h)
            .arg(&frame.pitch)
            .arg(&dst)
            .arg(&ow)
            .arg(&oh)
            .arg(&scale)
            .arg(&offset)
            .arg(&bgr)
            .launch(grid_2d(out_w, out_h))
    }
    .map(drop)
    .map_err(|e| driver_error("launching resize_u8_to_f32_nchw", e))
}
