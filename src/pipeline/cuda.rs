//! Device selection for a [`Pipeline`], and the CUDA arm of [`Pipeline::infer_rgb8`].
//!
//! [`select`] runs the probes of [`crate::device`] and, when they pass, builds a [`CudaRunner`]: the kernels
//! loaded on the GPU and a pool of [`CudaWorker`]s (sessions with the CUDA execution provider on the worker's
//! stream, device buffers). Building the first worker *is* the ONNX Runtime CUDA provider probe.

use crate::device::{Device, DeviceInfo, GpuLibraries};
use crate::ensemble::Ensemble;
use crate::error::{CudaErrorKind, Error, Result};
use crate::stages::Geometry;

use super::roles::Roles;

#[cfg(feature = "cuda")]
pub(super) use self::imp::CudaRunner;

/// Settles the device: `(what the pipeline runs on, the CUDA runner when it is CUDA)`.
#[cfg(not(feature = "cuda"))]
pub(super) fn select(
    requested: Device,
    _libs: &GpuLibraries,
    _ensemble: &Ensemble,
    _roles: &Roles,
    _geometry: &Geometry,
    _return_crop: bool,
) -> Result<(DeviceInfo, ())> {
    const WHY: &str = "this build of clo-pipeline has no CUDA path (built without the `cuda` feature)";
    match requested {
        Device::Cpu => Ok((DeviceInfo::cpu(requested, "Device::Cpu was asked for"), ())),
        Device::Auto => {
            tracing::info!(device = "cpu", reason = WHY, "device selected");
            Ok((DeviceInfo::cpu(requested, WHY), ()))
        }
        Device::Cuda(n) => {
            Err(Error::cuda(CudaErrorKind::NotCompiled, format!("Device::Cuda({n}) was asked for, but {WHY}")))
        }
    }
}

#[cfg(feature = "cuda")]
pub(super) use self::imp::select;

#[cfg(feature = "cuda")]
mod imp {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use cudarc::driver::CudaContext;
    use ndarray::Array4;

    use super::super::{Inference, Pipeline, StageMode, StageTimings, check_frame};
    use super::*;
    use crate::cuda::kernels::Kernels;
    use crate::cuda::worker::{Counters, CudaWorker, FramePlan, StepIo, Steps};
    use crate::cuda::{driver, nvrtc, provider};
    use crate::device::CudaStats;
    use crate::error::EnsembleErrorKind;
    use crate::pool::{Lease, Pool};
    use crate::runtime::{Runtime, RuntimeOptions};
    use crate::stages::letterbox::{DetFrame, Letterbox};
    use crate::stages::select;

    /// The CUDA path of one pipeline: kernels on the GPU, and a pool of workers.
    pub(crate) struct CudaRunner {
        context: Arc<CudaContext>,
        kernels: Kernels,
        steps: Steps,
        rows: usize,
        runtime: Runtime,
        options: RuntimeOptions,
        geometry: Geometry,
        return_crop: bool,
        workers: Pool<CudaWorker>,
        counters: Counters,
    }

    impl std::fmt::Debug for CudaRunner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("CudaRunner").field("ordinal", &self.context.ordinal()).finish_non_exhaustive()
        }
    }

    fn step(ensemble: &Ensemble, r: &crate::ensemble::StepNames, inputs: &[&str]) -> Result<StepIo> {
        let file = ensemble.model_file(&r.model).ok_or_else(|| Error::Ensemble {
            model: r.model.clone(),
            kind: EnsembleErrorKind::Internal,
            message: "no ONNX file for this model".to_owned(),
        })?;
        let inputs = inputs
            .iter()
            .map(|t| {
                r.inputs.get(*t).cloned().ok_or_else(|| Error::Ensemble {
                    model: r.model.clone(),
                    kind: EnsembleErrorKind::Internal,
                    message: format!("model `{}` has no input mapped from `{t}`", r.model),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StepIo { model: r.model.clone(), file: file.to_path_buf(), inputs, output: r.output.clone() })
    }

    /// Rows of the detector's output `[.., R, 6]`, from its config (must be static for device buffers).
    fn detection_rows(ensemble: &Ensemble, roles: &Roles) -> Result<usize> {
        let shape =
            ensemble.plan().tensors.get(&roles.detect.output_tensor).map(|(_, s)| s.clone()).unwrap_or_default();
        let n: i64 = shape.iter().product();
        match shape.last() {
            Some(6) if shape.iter().all(|&d| d > 0) => Ok((n / 6) as usize),
            _ => Err(Error::Tensor {
                model: roles.detect.model.clone(),
                tensor: roles.detect.output_tensor.clone(),
                expected: "a static shape [.., R, 6] (the CUDA path allocates its device buffers once)".to_owned(),
                found: format!("{shape:?}"),
            }),
        }
    }

    pub(crate) fn select(
        requested: Device,
        libs: &GpuLibraries,
        ensemble: &Ensemble,
        roles: &Roles,
        geometry: &Geometry,
        return_crop: bool,
    ) -> Result<(DeviceInfo, Option<CudaRunner>)> {
        let ordinal = match requested {
            Device::Cpu => return Ok((DeviceInfo::cpu(requested, "Device::Cpu was asked for"), None)),
            Device::Auto => 0,
            Device::Cuda(n) => n,
        };
        let mut log = Vec::new();
        let mut info = DeviceInfo::cpu(requested, String::new());
        let runner = probe(ordinal, libs, ensemble, roles, geometry, return_crop, &mut log, &mut info);
        let report = log.join("\n");
        match (runner, requested) {
            (Ok(runner), _) => {
                info.device = Device::Cuda(ordinal);
                info.reason = format!("every probe passed:\n{report}");
                tracing::info!(device = %info.device, gpu = ?info.name, reason = %info.reason, "device selected");
                Ok((info, Some(runner)))
            }
            (Err(first), Device::Cuda(n)) => Err(Error::cuda_from(
                CudaErrorKind::Unavailable,
                format!("Device::Cuda({n}) was asked for, but it is not usable; probes:\n{report}\nfirst failure"),
                first,
            )),
            (Err(_), _) => {
                info.reason = format!("CUDA is not usable, using the CPU; probes:\n{report}");
                tracing::info!(device = "cpu", reason = %info.reason, "device selected");
                Ok((info, None))
            }
        }
    }

    /// Every probe, each outcome logged to `log`; the runner when all pass, else the first failure.
    #[allow(clippy::too_many_arguments)]
    fn probe(
        ordinal: usize,
        libs: &GpuLibraries,
        ensemble: &Ensemble,
        roles: &Roles,
        geometry: &Geometry,
        return_crop: bool,
        log: &mut Vec<String>,
        info: &mut DeviceInfo,
    ) -> Result<CudaRunner> {
        let gpu = driver::probe(ordinal, log);
        if let Ok(g) = &gpu {
            info.name = Some(g.name.clone());
            info.compute_capability = Some(g.compute_capability);
            info.driver_version = Some(g.driver_version);
        }
        // NVRTC and the provider are probed even without a GPU, so that the report lists everything missing.
        let nvrtc_version = match nvrtc::load(libs.nvrtc.as_deref()) {
            Ok(n) => {
                log.push(format!("NVRTC: ok, {}.{} at {}", n.version().0, n.version().1, n.path().display()));
                info.nvrtc_version = Some(n.version());
                Ok(n.version())
            }
            Err(e) => {
                log.push(format!("NVRTC: {e}"));
                Err(e)
            }
        };
        let runtime = ensemble.runtime();
        let provider = match provider::find(libs.ort_cuda.as_deref(), runtime.library()) {
            Ok(p) => {
                log.push(format!("ONNX Runtime CUDA provider: found {}", p.display()));
                info.ort_cuda_provider = Some(p);
                Ok(())
            }
            Err(e) => {
                log.push(format!("ONNX Runtime CUDA provider: {e}"));
                Err(e)
            }
        };
        let rows = detection_rows(ensemble, roles).inspect_err(|e| log.push(format!("models: {e}")));
        let (gpu, nvrtc_version) = (gpu?, nvrtc_version?);
        provider?;
        let rows = rows?;
        let kernels = Kernels::load(&gpu, nvrtc_version).inspect_err(|e| log.push(format!("kernels: {e}")))?;
        log.push(format!(
            "kernels: ok, {} modules compiled to CUBIN sm_{} and loaded",
            crate::cuda::kernels::KERNELS.len(),
            gpu.arch()
        ));
        let image = roles.image.as_str();
        let steps = (|| {
            Ok::<_, Error>(Steps {
                pre: step(ensemble, &roles.preprocess, &[image])?,
                detect: step(ensemble, &roles.detect, &[&roles.preprocess.output_tensor])?,
                post: step(ensemble, &roles.postprocess, &[image, &roles.detect.output_tensor])?,
                estimate: step(ensemble, &roles.estimate, &[&roles.postprocess.output_tensor])?,
            })
        })()
        .inspect_err(|e| log.push(format!("models: {e}")))?;
        let runner = CudaRunner {
            context: Arc::clone(&gpu.context),
            kernels,
            steps,
            rows,
            runtime: runtime.clone(),
            options: ensemble.runtime_options().clone(),
            geometry: *geometry,
            return_crop,
            workers: Pool::new(Vec::new()),
            counters: Counters::default(),
        };
        let w = runner.new_worker().inspect_err(|e| log.push(format!("ONNX Runtime CUDA execution provider: {e}")))?;
        log.push("ONNX Runtime CUDA execution provider: ok, every model's session registered it".to_owned());
        runner.workers.put(w);
        Ok(runner)
    }

    impl CudaRunner {
        fn new_worker(&self) -> Result<CudaWorker> {
            CudaWorker::new(
                &self.context,
                &self.runtime,
                &self.options,
                &self.steps,
                &self.geometry,
                self.rows,
                &self.counters,
            )
        }

        /// A worker from the pool, or a new one; back in the pool when the lease drops.
        fn worker(&self) -> Result<Lease<'_, CudaWorker>> {
            self.workers.take(|| self.new_worker())
        }

        /// Copies and allocations so far, over every worker.
        pub(crate) fn stats(&self) -> CudaStats {
            let c = &self.counters;
            let idle_worker_buffers =
                self.workers.with_idle(|idle| idle.iter().map(|w| w.buffer_addresses().to_vec()).collect());
            CudaStats {
                frames: c.frames.load(Ordering::Relaxed),
                uploads: c.uploads.load(Ordering::Relaxed),
                upload_bytes: c.upload_bytes.load(Ordering::Relaxed),
                upload_seconds: c.upload_ns.load(Ordering::Relaxed) as f64 / 1e9,
                downloads: c.downloads.load(Ordering::Relaxed),
                download_bytes: c.download_bytes.load(Ordering::Relaxed),
                between_stage_copies: c.between_stages.load(Ordering::Relaxed),
                device_allocations: c.allocations.load(Ordering::Relaxed),
                idle_worker_buffers,
            }
        }
    }

    fn ms(v: f32) -> Duration {
        if v.is_finite() && v > 0.0 { Duration::from_secs_f64(f64::from(v) / 1e3) } else { Duration::ZERO }
    }

    impl Pipeline {
        /// The CUDA arm of `infer_with`. `Ok(None)`: this combination runs on the CPU instead (a mixed stage
        /// mode on a frame whose size differs from the models' input size: the detections would need remapping
        /// between two letterboxes, which the device path does not do).
        pub(in crate::pipeline) fn infer_cuda(
            &self,
            runner: &CudaRunner,
            frame: &[u8],
            width: u32,
            height: u32,
            pre: StageMode,
            post: StageMode,
        ) -> Result<Option<Inference>> {
            check_frame(frame, width, height)?;
            let t0 = Instant::now();
            let g = &self.geometry;
            let (mw, mh) = g.model_input;
            let pre_model = pre == StageMode::Model;
            let post_model = post == StageMode::Model;
            if pre_model != post_model && (width, height) != (mw, mh) {
                tracing::debug!(width, height, ?pre, ?post, "mixed stage modes at another frame size: CPU path");
                return Ok(None);
            }
            let plan = FramePlan { pre_model, post_model, want_crop: runner.return_crop, encoding: self.encoding };
            let out = runner.worker()?.run(&runner.kernels, frame, width, height, g, plan, &runner.counters)?;
            let dframe = if pre_model {
                DetFrame::model_input(g, width, height)?
            } else {
                DetFrame::native(Letterbox::new(width, height, g.letterbox)?)
            };
            let mut detections = Vec::new();
            let chosen = select::typed_detections(&out.detections, &dframe, g, width, height, &mut detections);
            let s = g.crop as usize;
            let crop = match out.crop {
                Some(c) => Array4::from_shape_vec((1, 3, s, s), c).map_err(|e| Error::Tensor {
                    model: self.roles.postprocess.model.clone(),
                    tensor: self.roles.postprocess.output.clone(),
                    expected: format!("[1,3,{s},{s}]"),
                    found: e.to_string(),
                })?,
                None => Array4::zeros((1, 3, 0, 0)),
            };
            let t = out.timings;
            let timings = StageTimings {
                preprocess: ms(t.upload_ms + t.preprocess_ms),
                detect: ms(t.detect_ms),
                postprocess: ms(t.postprocess_ms),
                estimate: ms(t.estimate_ms),
                total: t0.elapsed(),
            };
            Ok(Some(Inference {
                detections,
                best: chosen.best,
                degenerate: chosen.degenerate,
                oil_pct: out.oil,
                crop,
                crop_box: chosen.crop_box,
                frame_size: (width, height),
                modes: (pre, post),
                timings,
            }))
        }
    }
}
