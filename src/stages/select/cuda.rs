//! The best detection on the GPU: `best_box` (`kernels/select.cu`) picks the row [`best_detection`] picks
//! and writes the crop box [`crop_box`](crate::stages::crop_box) gives, so the crop never waits for the host.
//!
//! [`best_detection`]: super::best_detection

use cudarc::driver::{CudaFunction, CudaStream, LaunchConfig, PushKernelArg};

use crate::cuda::driver_error;
use crate::cuda::kernels::{DeviceBuffer, SELECT_THREADS, int};
use crate::stages::Letterbox;
use crate::{CudaErrorKind, Error, Result};

/// Picks the best of the detection rows in `dets` (6 floats each, letterbox pixels of `lb`) at `score_threshold`, on
/// `stream`, and writes its crop box in the `lb.src_w × lb.src_h` frame to `crop_box` (4 floats: the whole
/// frame when no row qualifies) and its row to `best_row` (`-1` when none).
///
/// # Errors
/// [`Error::Cuda`](crate::Error::Cuda) when a buffer is smaller than that or the launch fails.
pub(crate) fn best_box(
    stream: &CudaStream,
    kernel: &CudaFunction,
    dets: DeviceBuffer<'_, f32>,
    score_threshold: f32,
    lb: &Letterbox,
    crop_box: DeviceBuffer<'_, f32>,
    best_row: DeviceBuffer<'_, i32>,
) -> Result<()> {
    let rows = dets.len() / 6;
    let rows_i = i32::try_from(rows).map_err(|_| {
        Error::cuda(CudaErrorKind::BufferSize, format!("{rows} detection rows do not fit the kernel's int argument"))
    })?;
    crop_box.require(4, "the crop box")?;
    best_row.require(1, "the best row")?;
    let (new_w, new_h) = (int(lb.new_w, "the letterbox width")?, int(lb.new_h, "the letterbox height")?);
    let (pad_left, pad_top) = (int(lb.pad_left, "the letterbox padding")?, int(lb.pad_top, "the letterbox padding")?);
    let (w, h) = (int(lb.src_w, "the frame's width")?, int(lb.src_h, "the frame's height")?);
    let (d, b, r) = (dets.ptr(), crop_box.ptr(), best_row.ptr());
    let cfg = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (SELECT_THREADS, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: the arguments are `best_box`'s parameters (kernels/select.cu) in order and type: (const float*
    // dets, int rows, float threshold, int new_w, int new_h, int pad_left, int pad_top, int w, int h, float*
    // crop_box, int* best_row), launched as the one block of SELECT_THREADS threads it is written for (its
    // shared arrays have that size). It reads only `dets[0..6 * rows]` (`rows = dets.len() / 6`) and writes only `crop_box[0..4]` and
    // `best_row[0]`; `dets` holds that by construction and the `require`s above checked the other two, and they stay allocated
    // until the stream has run this launch.
    unsafe {
        stream
            .launch_builder(kernel)
            .arg(&d)
            .arg(&rows_i)
            .arg(&score_threshold)
            .arg(&new_w)
            .arg(&new_h)
            .arg(&pad_left)
            .arg(&pad_top)
            .arg(&w)
            .arg(&h)
            .arg(&b)
            .arg(&r)
            .launch(cfg)
    }
    .map(drop)
    .map_err(|e| driver_error("launching best_box", e))
}
