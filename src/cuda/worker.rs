//! The device-resident CLO pipeline: one CUDA stream per worker for our kernels and ONNX Runtime, device
//! buffers allocated once per worker and reused, and only the small results copied back.
//!
//! # Data flow of one frame (native stages)
//!
//! ```text
//! host frame ─memcpy─▶ pinned staging ─H2D (1 copy)─▶ frame u8 ─letterbox.cu─▶ letterbox f32 [1,3,T,T]
//!   ─detector (CUDA EP, reads the letterbox in place)─▶ detections [1,R,6] (ORT-allocated device tensor)
//!   ─select.cu (best box, on the device)─▶ crop box ─crop.cu (from frame u8)─▶ crop f32 [1,3,S,S]
//!   ─estimator (reads the crop in place)─▶ oil [1,1]
//! D2H: detections (R×6), oil, and the crop only when asked (PipelineBuilder::return_crop).
//! ```
//!
//! [`CudaWorker::run`] does one stage per method (`upload`, `preprocess`, the detector, `postprocess`, the
//! estimator, `read_back`), each between two CUDA events; the kernels are launched through the typed
//! functions of `stages/<stage>/cuda.rs`, which check the buffers they are given.
//!
//! In `StageMode::Model` the repository's preprocessing model reads the f32 frame that `resize.cu` builds on
//! the device and writes the letterbox into a device tensor the detector reads; the postprocessing model
//! reads that frame and the detector's device output and writes the crop the estimator reads. No step
//! copies between host and device.
//!
//! # How ONNX Runtime sees our buffers
//!
//! Inputs are `TensorRefMut::from_raw` views over our device memory passed to `Session::run_with_options`
//! (not IoBinding: binding a borrowed tensor of the session's own device deadlocks in ort rc.15). Outputs
//! are owned tensors from the session's CUDA allocator, preallocated in the `RunOptions` (so each run writes
//! into the same device memory); their device addresses are taken once, when the worker is built. Every
//! session of a worker is given the worker's stream (`with_compute_stream`), and runs with
//! `disable_device_sync`: the stream orders kernels and models, and the host waits once per frame, after
//! the copies back.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cudarc::driver::{
    CudaContext, CudaEvent, CudaSlice, CudaStream, DevicePtr, PinnedHostSlice, result as driver_result, sys,
};
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session};
use ort::value::{Shape, Tensor, TensorRefMut};

use super::driver_error as cuda;
use super::kernels::{DeviceBuffer, DeviceFrame, Kernels};
use crate::convention::InputEncoding;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::stages::{Geometry, Letterbox, crop, letterbox, resize, select};
use crate::{CudaErrorKind, Error, Result};

/// Host↔device copies and device allocations made by this module, counted where they are issued.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) frames: AtomicU64,
    pub(crate) uploads: AtomicU64,
    pub(crate) upload_bytes: AtomicU64,
    pub(crate) downloads: AtomicU64,
    pub(crate) download_bytes: AtomicU64,
    /// Copies issued while a frame is between its upload and its read-back (must stay 0).
    pub(crate) between_stages: AtomicU64,
    pub(crate) allocations: AtomicU64,
    /// Sum of the uploads' GPU times (CUDA events), nanoseconds.
    pub(crate) upload_ns: AtomicU64,
}

/// Model and tensor names of the four steps, as the CUDA worker needs them.
#[derive(Debug, Clone)]
pub(crate) struct StepIo {
    /// The model's name (for errors).
    pub(crate) model: String,
    /// The ONNX file.
    pub(crate) file: std::path::PathBuf,
    /// Model input names, in the order the worker feeds them (image first for postprocessing).
    pub(crate) inputs: Vec<String>,
    /// The model's output name.
    pub(crate) output: String,
}

/// The four steps: preprocess, detect, postprocess, estimate.
#[derive(Debug, Clone)]
pub(crate) struct Steps {
    pub(crate) pre: StepIo,
    pub(crate) detect: StepIo,
    pub(crate) post: StepIo,
    pub(crate) estimate: StepIo,
}

/// One ONNX Runtime session on the GPU with its preallocated device output.
struct DeviceSession {
    io: StepIo,
    // Field order matters for drop: the run options (holding the output tensor) go before the session.
    run: RunOptions<HasSelectedOutputs>,
    output_ptr: u64,
    output_len: usize,
    session: Session,
    _allocator: Allocator,
}

// SAFETY: the RunOptions' raw pointer and the preallocated output are used only by the worker that owns this
// session, one thread at a time (workers move between threads through the pool's mutex, never shared).
unsafe impl Send for DeviceSession {}

fn cuda_memory(ordinal: usize, model: &str) -> Result<MemoryInfo<'static>> {
    MemoryInfo::new(AllocationDevice::CUDA, ordinal as i32, AllocatorType::Device, MemoryType::Default)
        .map_err(|e| Error::ort(model, e))
}

impl DeviceSession {
    fn new(
        runtime: &Runtime,
        options: &RuntimeOptions,
        io: StepIo,
        ordinal: usize,
        stream: &CudaStream,
        output_shape: &[i64],
    ) -> Result<DeviceSession> {
        // SAFETY: the stream outlives the session: both belong to the same `CudaWorker`, whose `sessions`
        // are declared (and so dropped) before its `stream`.
        let ep = unsafe {
            ort::ep::CUDA::default().with_device_id(ordinal as i32).with_compute_stream(stream.cu_stream() as *mut ())
        }
        .build()
        .error_on_failure();
        let session = runtime.session(&io.model, &io.file, options, &[ep])?;
        let allocator =
            Allocator::new(&session, cuda_memory(ordinal, &io.model)?).map_err(|e| Error::ort(&io.model, e))?;
        let mut out = Tensor::<f32>::new(&allocator, output_shape.to_vec()).map_err(|e| Error::ort(&io.model, e))?;
        let output_ptr = out.data_ptr_mut() as u64;
        let output_len = output_shape.iter().map(|&d| d.max(0) as usize).product();
        let mut run = RunOptions::new()
            .map_err(|e| Error::ort(&io.model, e))?
            .with_outputs(OutputSelector::no_default().with(io.output.clone()).preallocate(io.output.clone(), out));
        run.disable_device_sync().map_err(|e| Error::ort(&io.model, e))?;
        Ok(DeviceSession { io, run, output_ptr, output_len, session, _allocator: allocator })
    }

    /// Runs the model on device views (`(pointer, shape)` per input, in `io.inputs` order); the output lands
    /// in `output_ptr`.
    fn run(&mut self, ordinal: usize, inputs: &[(u64, Vec<i64>)]) -> Result<()> {
        let model = self.io.model.clone();
        let mut values: Vec<(String, ort::session::SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for (name, (ptr, shape)) in self.io.inputs.iter().zip(inputs) {
            // SAFETY: `ptr` is a live device allocation of this worker (or a preallocated ORT output) holding
            // at least `shape`'s element count of f32 on GPU `ordinal`; the view is dropped at the end of this
            // function, before any buffer is freed (buffers live as long as the worker).
            let view = unsafe {
                TensorRefMut::<f32>::from_raw(
                    cuda_memory(ordinal, &model)?,
                    *ptr as *mut c_void,
                    Shape::new(shape.clone()),
                )
            }
            .map_err(|e| Error::ort(&model, e))?;
            values.push((name.clone(), view.into_dyn().into()));
        }
        let out = self.session.run_with_options(values, &self.run).map_err(|e| Error::ort(&model, e))?;
        drop(out);
        Ok(())
    }

    /// The preallocated output, where every run writes.
    fn output(&self) -> DeviceBuffer<'_, f32> {
        // SAFETY: `output_ptr` is the data pointer of the output tensor preallocated in `self.run` with
        // `output_len` f32 on this session's GPU; `self.run` owns it for as long as `self` lives, and the
        // borrow of `self` keeps it from being dropped while the view exists.
        unsafe { DeviceBuffer::from_raw(self.output_ptr, self.output_len) }
    }
}

/// A device buffer and its device address (stable for the buffer's life).
struct DeviceBuf<T> {
    slice: CudaSlice<T>,
    ptr: u64,
}

impl<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits> DeviceBuf<T> {
    fn new(stream: &Arc<CudaStream>, len: usize, counters: &Counters) -> Result<DeviceBuf<T>> {
        let slice = stream.alloc_zeros::<T>(len.max(1)).map_err(|e| cuda("allocating device memory", e))?;
        let ptr = {
            let (ptr, _sync) = slice.device_ptr(stream);
            ptr
        };
        counters.allocations.fetch_add(1, Ordering::Relaxed);
        Ok(DeviceBuf { ptr, slice })
    }
    fn len(&self) -> usize {
        self.slice.len()
    }

    /// The buffer as a kernel argument.
    fn view(&self) -> DeviceBuffer<'_, T> {
        // SAFETY: `ptr` is `slice`'s device address (taken when it was allocated on the worker's stream, where
        // it is also freed, in order after the launches that use it), `slice` holds `slice.len()` elements, and
        // the borrow of `self` keeps it allocated while the view exists.
        unsafe { DeviceBuffer::from_raw(self.ptr, self.slice.len()) }
    }
}

/// Per-stage GPU times of one frame, from CUDA events recorded on the worker's stream (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GpuTimings {
    /// Host → pinned staging → device copy of the u8 frame.
    pub upload_ms: f32,
    /// Letterbox kernel, or resize kernel + preprocessing model.
    pub preprocess_ms: f32,
    /// The detector.
    pub detect_ms: f32,
    /// Best-box + crop kernels, or the postprocessing model.
    pub postprocess_ms: f32,
    /// The estimator.
    pub estimate_ms: f32,
    /// The copies back (detections, oil, crop if asked).
    pub readback_ms: f32,
}

/// What one frame brings back from the device.
pub(crate) struct FrameOut {
    pub(crate) detections: Vec<f32>,
    pub(crate) oil: f32,
    pub(crate) crop: Option<Vec<f32>>,
    pub(crate) timings: GpuTimings,
}

/// How to run one frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FramePlan {
    pub(crate) pre_model: bool,
    pub(crate) post_model: bool,
    pub(crate) want_crop: bool,
    /// What the ensemble input holds (the settled input convention), for the model-size frame.
    pub(crate) encoding: InputEncoding,
}

/// One worker on the GPU: its stream, sessions, buffers and events, reused across frames.
pub(crate) struct CudaWorker {
    // Sessions first: they use `stream`, so they are dropped before it.
    pre: DeviceSession,
    detect: DeviceSession,
    post: DeviceSession,
    estimate: DeviceSession,
    staging: PinnedHostSlice<u8>,
    frame: DeviceBuf<u8>,
    frame_f32: Option<DeviceBuf<f32>>,
    letterbox: DeviceBuf<f32>,
    crop: DeviceBuf<f32>,
    crop_box: DeviceBuf<f32>,
    best_row: DeviceBuf<i32>,
    events: [CudaEvent; 7],
    rows: usize,
    ordinal: usize,
    stream: Arc<CudaStream>,
    context: Arc<CudaContext>,
}

// SAFETY: a worker is used by one thread at a time (taken from and returned to the pool under its mutex);
// the raw pointers inside cudarc's pinned slice and events refer to process-wide CUDA objects that any
// thread may use once the context is bound (`bind_to_thread` at the start of each frame).
unsafe impl Send for CudaWorker {}

fn nchw(side: u32) -> Vec<i64> {
    vec![1, 3, i64::from(side), i64::from(side)]
}

impl CudaWorker {
    /// Builds a worker on `context`'s GPU: a new stream, the four sessions with the CUDA execution provider on
    /// that stream (registration errors are errors: `error_on_failure`), and every buffer for frames of up to
    /// `w × h` (larger frames grow the frame buffers once).
    pub(crate) fn new(
        context: &Arc<CudaContext>,
        runtime: &Runtime,
        options: &RuntimeOptions,
        steps: &Steps,
        g: &Geometry,
        detections_rows: usize,
        counters: &Counters,
    ) -> Result<CudaWorker> {
        context.bind_to_thread().map_err(|e| cuda("binding the context", e))?;
        let ordinal = context.ordinal();
        let stream = context.new_stream().map_err(|e| cuda("creating a stream", e))?;
        let (mw, mh) = g.model_input;
        let pre = DeviceSession::new(runtime, options, steps.pre.clone(), ordinal, &stream, &nchw(g.letterbox))?;
        let rows = detections_rows as i64;
        let detect = DeviceSession::new(runtime, options, steps.detect.clone(), ordinal, &stream, &[1, rows, 6])?;
        let post = DeviceSession::new(runtime, options, steps.post.clone(), ordinal, &stream, &nchw(g.crop))?;
        let estimate = DeviceSession::new(runtime, options, steps.estimate.clone(), ordinal, &stream, &[1, 1])?;
        let frame_bytes = 3 * mw as usize * mh as usize;
        // SAFETY: the staging memory is written (the whole frame) before every upload reads it.
        let staging =
            unsafe { context.alloc_pinned::<u8>(frame_bytes) }.map_err(|e| cuda("allocating pinned memory", e))?;
        counters.allocations.fetch_add(1, Ordering::Relaxed);
        let side = g.letterbox as usize;
        let crop = g.crop as usize;
        let mut events = Vec::with_capacity(7);
        for _ in 0..7 {
            events.push(
                context
                    .new_event(Some(sys::CUevent_flags::CU_EVENT_DEFAULT))
                    .map_err(|e| cuda("creating an event", e))?,
            );
        }
        let events: [CudaEvent; 7] =
            events.try_into().map_err(|_| Error::cuda(CudaErrorKind::Driver, "creating 7 events"))?;
        Ok(CudaWorker {
            pre,
            detect,
            post,
            estimate,
            staging,
            frame: DeviceBuf::new(&stream, frame_bytes, counters)?,
            frame_f32: None,
            letterbox: DeviceBuf::new(&stream, 3 * side * side, counters)?,
            crop: DeviceBuf::new(&stream, 3 * crop * crop, counters)?,
            crop_box: DeviceBuf::new(&stream, 4, counters)?,
            best_row: DeviceBuf::new(&stream, 1, counters)?,
            events,
            rows: detections_rows,
            ordinal,
            stream,
            context: Arc::clone(context),
        })
    }

    /// Device addresses of the worker's buffers (frame, letterbox, crop, crop box, best row, detections):
    /// they stay the same from frame to frame while frames do not grow.
    pub(crate) fn buffer_addresses(&self) -> [u64; 6] {
        [
            self.frame.ptr,
            self.letterbox.ptr,
            self.crop.ptr,
            self.crop_box.ptr,
            self.best_row.ptr,
            self.detect.output_ptr,
        ]
    }

    fn record(&self, i: usize) -> Result<()> {
        match self.events.get(i) {
            Some(e) => e.record(&self.stream).map_err(|e| cuda("recording an event", e)),
            None => Ok(()),
        }
    }

    fn elapsed(&self, a: usize, b: usize) -> f32 {
        match (self.events.get(a), self.events.get(b)) {
            (Some(a), Some(b)) => a.elapsed_ms(b).unwrap_or(f32::NAN),
            _ => f32::NAN,
        }
    }

    /// Makes sure the u8 frame buffers hold `bytes`; grows them (a new allocation) only for a larger frame.
    fn ensure_frame(&mut self, bytes: usize, counters: &Counters) -> Result<()> {
        if self.frame.len() < bytes {
            self.frame = DeviceBuf::new(&self.stream, bytes, counters)?;
        }
        if self.staging.len() < bytes {
            // SAFETY: as in `new`: written in full before each upload.
            self.staging =
                unsafe { self.context.alloc_pinned::<u8>(bytes) }.map_err(|e| cuda("allocating pinned memory", e))?;
            counters.allocations.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Runs one frame (`w × h` RGB8, already checked) through the device-resident pipeline, stage by stage,
    /// each between two CUDA events: upload, preprocess, detect, postprocess, estimate, read back.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &mut self,
        kernels: &Kernels,
        frame: &[u8],
        w: u32,
        h: u32,
        g: &Geometry,
        plan: FramePlan,
        counters: &Counters,
    ) -> Result<FrameOut> {
        self.context.bind_to_thread().map_err(|e| cuda("binding the context", e))?;
        self.ensure_frame(frame.len(), counters)?;
        let out = self.run_stages(kernels, frame, w, h, g, plan, counters);
        if out.is_err() {
            // A stage failed after work was queued: wait for the stream, so that no copy or kernel of this frame
            // still reads the staging buffer or the worker's buffers when the next frame reuses them.
            let _ = self.stream.synchronize();
        }
        out
    }

    /// [`CudaWorker::run`]'s stages, each between two of the worker's events.
    #[allow(clippy::too_many_arguments)]
    fn run_stages(
        &mut self,
        kernels: &Kernels,
        frame: &[u8],
        w: u32,
        h: u32,
        g: &Geometry,
        plan: FramePlan,
        counters: &Counters,
    ) -> Result<FrameOut> {
        self.record(0)?;
        self.upload(frame, counters)?;
        self.record(1)?;
        let lb = Letterbox::new(w, h, g.letterbox)?;
        let letterbox = self.preprocess(kernels, w, h, &lb, g, plan, counters)?;
        self.record(2)?;
        self.detect.run(self.ordinal, &[(letterbox, nchw(g.letterbox))])?;
        self.record(3)?;
        let crop = self.postprocess(kernels, w, h, &lb, g, plan)?;
        self.record(4)?;
        self.estimate.run(self.ordinal, &[(crop, nchw(g.crop))])?;
        self.record(5)?;
        let (detections, oil, crop) = self.read_back(crop, g, plan, counters)?;
        self.record(6)?;
        self.stream.synchronize().map_err(|e| cuda("waiting for the frame", e))?;
        counters.frames.fetch_add(1, Ordering::Relaxed);
        let up = self.elapsed(0, 1);
        if up.is_finite() && up > 0.0 {
            counters.upload_ns.fetch_add((f64::from(up) * 1e6) as u64, Ordering::Relaxed);
        }
        let timings = GpuTimings {
            upload_ms: self.elapsed(0, 1),
            preprocess_ms: self.elapsed(1, 2),
            detect_ms: self.elapsed(2, 3),
            postprocess_ms: self.elapsed(3, 4),
            estimate_ms: self.elapsed(4, 5),
            readback_ms: self.elapsed(5, 6),
        };
        Ok(FrameOut { detections, oil, crop, timings })
    }

    /// The frame's only host → device copy: into the pinned staging buffer, then to `self.frame`.
    fn upload(&mut self, frame: &[u8], counters: &Counters) -> Result<()> {
        let bytes = frame.len();
        {
            let staging = self.staging.as_mut_slice().map_err(|e| cuda("waiting for the staging buffer", e))?;
            let Some(dst) = staging.get_mut(..bytes) else {
                return Err(Error::cuda(
                    CudaErrorKind::BufferSize,
                    format!("staging buffer smaller than {bytes} bytes"),
                ));
            };
            dst.copy_from_slice(frame);
        }
        let staged = self.staging.as_slice().map_err(|e| cuda("reading the staging buffer", e))?;
        let src = staged.get(..bytes).unwrap_or_default();
        // SAFETY: `self.frame` holds at least `bytes` bytes (ensure_frame); `src` is pinned memory owned by this
        // worker that is not written again until the stream has finished with it: `run` synchronises the stream
        // before it returns, whether the frame succeeds or fails, and the next frame writes the staging buffer
        // only after that.
        unsafe { driver_result::memcpy_htod_async(self.frame.ptr, src, self.stream.cu_stream()) }
            .map_err(|e| cuda("uploading the frame", e))?;
        counters.uploads.fetch_add(1, Ordering::Relaxed);
        counters.upload_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The frame as the repository's models take it (f32 NCHW at the model's input size, in
    /// `self.frame_f32`, grown once), built from the uploaded frame by the resize kernel.
    fn frame_tensor(
        &mut self,
        kernels: &Kernels,
        (w, h): (u32, u32),
        g: &Geometry,
        encoding: &InputEncoding,
        counters: &Counters,
    ) -> Result<u64> {
        let (mw, mh) = g.model_input;
        let need = 3 * mw as usize * mh as usize;
        if self.frame_f32.as_ref().is_none_or(|b| b.len() < need) {
            self.frame_f32 = Some(DeviceBuf::new(&self.stream, need, counters)?);
        }
        let Some(out) = self.frame_f32.as_ref() else {
            return Err(Error::cuda(CudaErrorKind::BufferSize, "the model-size frame buffer is missing"));
        };
        let frame = DeviceFrame::new(self.frame.view(), w, h)?;
        resize::cuda::resize(&self.stream, &kernels.resize, &frame, mw, mh, encoding, out.view())?;
        Ok(out.ptr)
    }

    /// Preprocessing: the letterbox the detector reads, ours (the letterbox kernel on the uploaded frame) or the
    /// preprocessing model's output (on the resized frame); returns its device address. Builds the model-size
    /// frame whenever a stage runs its model.
    #[allow(clippy::too_many_arguments)]
    fn preprocess(
        &mut self,
        kernels: &Kernels,
        w: u32,
        h: u32,
        lb: &Letterbox,
        g: &Geometry,
        plan: FramePlan,
        counters: &Counters,
    ) -> Result<u64> {
        let frame_f32 = if plan.pre_model || plan.post_model {
            self.frame_tensor(kernels, (w, h), g, &plan.encoding, counters)?
        } else {
            0
        };
        if plan.pre_model {
            let (mw, mh) = g.model_input;
            self.pre.run(self.ordinal, &[(frame_f32, vec![1, 3, i64::from(mh), i64::from(mw)])])?;
            return Ok(self.pre.output_ptr);
        }
        let frame = DeviceFrame::new(self.frame.view(), w, h)?;
        letterbox::cuda::letterbox(
            &self.stream,
            &kernels.letterbox,
            &frame,
            lb,
            g.scale,
            g.pad_value,
            self.letterbox.view(),
        )?;
        Ok(self.letterbox.ptr)
    }

    /// Postprocessing: the crop the estimator reads, ours (best box, then the crop kernel on the uploaded frame)
    /// or the postprocessing model's output (on the model-size frame and the detector's rows); returns its
    /// device address.
    fn postprocess(
        &mut self,
        kernels: &Kernels,
        w: u32,
        h: u32,
        lb: &Letterbox,
        g: &Geometry,
        plan: FramePlan,
    ) -> Result<u64> {
        if plan.post_model {
            let (mw, mh) = g.model_input;
            let frame_f32 = self.frame_f32.as_ref().map(|b| b.ptr).unwrap_or_default();
            let rows = self.rows as i64;
            let inputs =
                [(frame_f32, vec![1, 3, i64::from(mh), i64::from(mw)]), (self.detect.output_ptr, vec![1, rows, 6])];
            self.post.run(self.ordinal, &inputs)?;
            return Ok(self.post.output_ptr);
        }
        // The detections are in the letterbox of the frame the detector saw: this frame's own letterbox
        // (native) or the model-size frame's (preprocessing model; the caller only plans that when the frame
        // has the model's size, so both are the same).
        let dl = if plan.pre_model { Letterbox::new(g.model_input.0, g.model_input.1, g.letterbox)? } else { *lb };
        let dets = self.detect.output();
        select::cuda::best_box(
            &self.stream,
            &kernels.best_box,
            dets,
            g.score_threshold,
            &dl,
            self.crop_box.view(),
            self.best_row.view(),
        )?;
        let frame = DeviceFrame::new(self.frame.view(), w, h)?;
        crop::cuda::crop_resize(
            &self.stream,
            &kernels.crop,
            &frame,
            self.crop_box.view(),
            g.crop,
            g.scale,
            self.crop.view(),
        )?;
        Ok(self.crop.ptr)
    }

    /// The copies back: detections, oil, and the crop (at `crop`) when asked. Nothing before them copied
    /// between host and device.
    fn read_back(
        &mut self,
        crop: u64,
        g: &Geometry,
        plan: FramePlan,
        counters: &Counters,
    ) -> Result<(Vec<f32>, f32, Option<Vec<f32>>)> {
        let mut detections = vec![0f32; self.detect.output_len];
        let mut oil = [0f32; 1];
        let mut crop_out = plan.want_crop.then(|| vec![0f32; 3 * g.crop as usize * g.crop as usize]);
        let cu = self.stream.cu_stream();
        // SAFETY: each source is a device allocation of at least the destination's length in f32 (the
        // preallocated outputs have exactly `output_len` elements; the crop buffers 3 * crop²). The
        // destinations are pageable host memory, for which the driver returns from an asynchronous
        // device-to-host copy only once the copy is done (CUDA's "API synchronization behavior"), so no copy
        // outlives its vector on any return path; the values are used only after `run` synchronises the stream.
        unsafe {
            driver_result::memcpy_dtoh_async(&mut detections, self.detect.output_ptr, cu)
                .map_err(|e| cuda("copying the detections back", e))?;
            driver_result::memcpy_dtoh_async(&mut oil[..], self.estimate.output_ptr, cu)
                .map_err(|e| cuda("copying the oil percentage back", e))?;
            if let Some(c) = crop_out.as_mut() {
                driver_result::memcpy_dtoh_async(c, crop, cu).map_err(|e| cuda("copying the crop back", e))?;
            }
        }
        let n = 2 + u64::from(crop_out.is_some());
        counters.downloads.fetch_add(n, Ordering::Relaxed);
        let b = 4 * (detections.len() + 1 + crop_out.as_ref().map_or(0, Vec::len)) as u64;
        counters.download_bytes.fetch_add(b, Ordering::Relaxed);
        Ok((detections, oil[0], crop_out))
    }
}
