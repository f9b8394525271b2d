//! The letterbox on the GPU: `letterbox_u8_to_f32_nchw` (`kernels/letterbox.cu`), the device twin of
//! [`cpu::letterbox`](super::cpu::letterbox), bit for bit.

use cudarc::driver::{CudaFunction, CudaStream, PushKernelArg};

use super::Letterbox;
use crate::Result;
use crate::cuda::driver_error;
use crate::cuda::kernels::{DeviceBuffer, DeviceFrame, grid_2d, int, rgb_len};

/// Letterboxes `frame` into `out` (f32 NCHW `[1, 3, side, side]`, `side = lb.side`) on `stream`: the frame
/// resized to `lb.new_w × lb.new_h` at `(lb.pad_left, lb.pad_top)`, times `scale`; `pad_value` elsewhere.
///
/// # Errors
/// [`Error::Cuda`](crate::Error::Cuda) when `out` is smaller than `3 × side²` or the launch fails.
pub(crate) fn letterbox(
    stream: &CudaStream,
    kernel: &CudaFunction,
    frame: &DeviceFrame<'_>,
    lb: &Letterbox,
    scale: f32,
    pad_value: f32,
    out: DeviceBuffer<'_, f32>,
) -> Result<()> {
    out.require(rgb_len(lb.side, lb.side)?, "the letterbox")?;
    let side = int(lb.side, "the letterbox side")?;
    let (new_w, new_h) = (int(lb.new_w, "the letterbox width")?, int(lb.new_h, "the letterbox height")?);
    let (pad_left, pad_top) = (int(lb.pad_left, "the letterbox padding")?, int(lb.pad_top, "the letterbox padding")?);
    let (src, dst) = (frame.buf.ptr(), out.ptr());
    // SAFETY: the arguments are `letterbox_u8_to_f32_nchw`'s parameters (kernels/letterbox.cu) in order and
    // type: (const u8*, int w, int h, int pitch, float*, int side, int new_w, int new_h, int pad_left,
    // int pad_top, float scale, float pad_value). The kernel writes only `out[0..3 * side²]` (threads outside
    // `side × side` return) and reads only frame rows `0..h` of `pitch` bytes (its sample clamps to the
    // frame); `DeviceFrame::new` and the `require` above checked that both buffers hold that much, and both
    // stay allocated until the stream has run this launch.
    unsafe {
        stream
            .launch_builder(kernel)
            .arg(&src)
            .arg(&frame.w)
            .arg(&frame.h)
            .arg(&frame.pitch)
            .arg(&dst)
            .arg(&side)
            .arg(&new_w)
            .arg(&new_h)
            .arg(&pad_left)
            .arg(&pad_top)
            .arg(&scale)
            .arg(&pad_value)
            .launch(grid_2d(lb.side, lb.side))
    }
    .map(drop)
    .map_err(|e| driver_error("launching letterbox_u8_to_f32_nchw", e))
}
