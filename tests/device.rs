//! Device selection and the CUDA path.
//!
//! Without a GPU (CI, developers' machines): `Device::Auto` falls back to the CPU and says why, and
//! `Device::Cuda(0)` is a typed error listing the probes. With a GPU (scripts/gpu-check on an H100): the CUDA
//! path agrees with the CPU path on the fixture photographs in both stage modes, reuses its device buffers,
//! and makes no host↔device copy between stages. Without a GPU, the GPU tests say on stderr that they skipped
//! and why; on a machine whose driver sees a GPU, they fail when the CUDA path cannot be used.

mod common;

use std::sync::OnceLock;

use clo_pipeline::{CudaErrorKind, Device, Error, Pipeline, StageMode};
use common::{CONVENTIONS, IMAGES, fixtures, max_abs, repository, rgb, skip};

fn cuda_feature_and_driver() -> bool {
    cfg!(feature = "cuda") && {
        #[cfg(feature = "cuda")]
        {
            clo_pipeline::cuda::driver_present()
        }
        #[cfg(not(feature = "cuda"))]
        {
            false
        }
    }
}

#[test]
fn cpu_is_used_when_asked_and_says_so() {
    let p = Pipeline::builder(repository()).device(Device::Cpu).build().unwrap();
    let d = p.device();
    assert_eq!(d.device, Device::Cpu);
    assert_eq!(d.requested, Device::Cpu);
    assert!(d.reason.contains("Device::Cpu was asked for"), "{}", d.reason);
    assert!(p.cuda_stats().is_none());
}

#[test]
fn auto_falls_back_to_cpu_and_says_why() {
    let p = Pipeline::builder(repository()).build().unwrap();
    let d = p.device();
    assert_eq!(d.requested, Device::Auto);
    if d.is_cuda() {
        skip("auto_falls_back_to_cpu_and_says_why", &format!("a usable GPU is present ({:?}): no fallback", d.name));
        return;
    }
    assert_eq!(d.device, Device::Cpu);
    assert!(p.cuda_stats().is_none());
    if !cfg!(feature = "cuda") {
        assert!(d.reason.contains("without the `cuda` feature"), "{}", d.reason);
        return;
    }
    assert!(d.reason.contains("CUDA is not usable"), "{}", d.reason);
    if !cuda_feature_and_driver() {
        // What is missing here: the driver; NVRTC and the provider are reported too.
        assert!(d.reason.contains("libcuda"), "{}", d.reason);
        assert!(d.reason.contains("NVRTC:"), "{}", d.reason);
        assert!(d.reason.contains("ONNX Runtime CUDA provider:"), "{}", d.reason);
        assert!(d.name.is_none() && d.compute_capability.is_none() && d.driver_version.is_none());
    }
    // The CPU path still works.
    let img = rgb("chelsea");
    let r = p.infer_rgb8(img.as_raw(), img.width(), img.height()).unwrap();
    assert!(r.oil_pct.is_finite());
}

#[test]
fn cuda_without_a_usable_gpu_is_a_typed_error_listing_the_probes() {
    let r = Pipeline::builder(repository()).device(Device::Cuda(0)).build();
    match r {
        Ok(p) => {
            assert!(p.device().is_cuda());
            skip(
                "cuda_without_a_usable_gpu_is_a_typed_error_listing_the_probes",
                &format!("a usable GPU is present ({:?}): Device::Cuda(0) built, no error to check", p.device().name),
            );
        }
        Err(Error::Cuda { kind, message, source }) => {
            let want = if cfg!(feature = "cuda") { CudaErrorKind::Unavailable } else { CudaErrorKind::NotCompiled };
            assert_eq!(kind, want, "{message}");
            // With the CUDA path compiled, the first failed probe is kept as the source.
            assert_eq!(source.is_some(), cfg!(feature = "cuda"), "{message}");
            assert!(message.contains("Device::Cuda(0)"), "{message}");
            if cfg!(feature = "cuda") {
                assert!(message.contains("driver:"), "{message}");
                assert!(message.contains("NVRTC:"), "{message}");
                assert!(message.contains("ONNX Runtime CUDA provider:"), "{message}");
            } else {
                assert!(message.contains("without the `cuda` feature"), "{message}");
            }
        }
        Err(other) => panic!("expected Error::Cuda, got {other}"),
    }
}

#[test]
fn cuda_ordinal_out_of_range_is_an_error_not_a_panic() {
    let r = Pipeline::builder(repository()).device(Device::Cuda(4096)).build();
    match r {
        Err(Error::Cuda { message, .. }) => assert!(message.contains("Device::Cuda(4096)"), "{message}"),
        Err(other) => panic!("expected Error::Cuda, got {other}"),
        Ok(_) => panic!("GPU 4096 cannot exist"),
    }
}

// ---- GPU tests: run on a GPU (scripts/gpu-check --run); elsewhere they skip and say why on stderr. ----

/// Whether the NVIDIA driver sees a GPU here (`Device::Auto`'s probes name it): then the GPU tests must run,
/// and a CUDA path that cannot be used is a failure, not a skip.
fn gpu_present() -> bool {
    static P: OnceLock<bool> = OnceLock::new();
    *P.get_or_init(|| {
        let p = Pipeline::builder(repository()).stage_mode(StageMode::Native).build().unwrap();
        p.device().name.is_some() || p.device().compute_capability.is_some()
    })
}

/// `Device::Cuda(0)` with `builder`'s settings, or `None` after saying why the test skips; panics when a GPU is
/// present and the CUDA path still cannot be built.
fn cuda_or_skip(test: &str, builder: clo_pipeline::PipelineBuilder) -> Option<Pipeline> {
    match builder.device(Device::Cuda(0)).build() {
        Ok(p) => Some(p),
        Err(e) if gpu_present() => panic!("{test}: the driver sees a GPU, but the CUDA path cannot be used: {e}"),
        Err(e) => {
            let why = e.to_string();
            skip(test, &format!("no usable GPU: {}", why.lines().find(|l| l.contains("driver:")).unwrap_or(&why)));
            None
        }
    }
}

/// `(cuda, cpu)` pipelines over `repo` in `mode`, or why the GPU tests skip. The CUDA pipeline must settle the
/// same input encoding as the CPU one (its Model mode builds the ensemble input with the resize kernel in it).
fn pair(repo: &std::path::Path, mode: StageMode) -> Result<(Pipeline, Pipeline), String> {
    let cuda = match Pipeline::builder(repo).stage_mode(mode).device(Device::Cuda(0)).build() {
        Ok(p) => p,
        Err(e) => return Err(e.to_string()),
    };
    let cpu = Pipeline::builder(repo).stage_mode(mode).device(Device::Cpu).build().map_err(|e| e.to_string())?;
    assert_eq!(cuda.input_encoding(), cpu.input_encoding(), "{}", repo.display());
    Ok((cuda, cpu))
}

/// Both stage modes on the repository of each input convention (`CONVENTIONS`).
fn gpu_pairs() -> &'static Result<Vec<(Pipeline, Pipeline)>, String> {
    static P: OnceLock<Result<Vec<(Pipeline, Pipeline)>, String>> = OnceLock::new();
    P.get_or_init(|| {
        let mut pairs = Vec::new();
        for (repo, encoding, _) in CONVENTIONS {
            for mode in [StageMode::Native, StageMode::Model] {
                let (cuda, cpu) = pair(&fixtures().join(repo), mode)?;
                assert_eq!(cuda.input_encoding(), encoding, "{repo}");
                pairs.push((cuda, cpu));
            }
        }
        Ok(pairs)
    })
}

macro_rules! gpu_or_skip {
    ($test:literal) => {
        match gpu_pairs() {
            Ok(p) => p,
            Err(why) if gpu_present() => {
                panic!("{}: the driver sees a GPU, but the CUDA path cannot be used: {why}", $test)
            }
            Err(why) => {
                skip($test, &format!("no usable GPU: {}", why.lines().find(|l| l.contains("driver:")).unwrap_or(why)));
                return;
            }
        }
    };
}

/// Tolerances, CUDA vs CPU: the kernels round like the CPU stages (`--fmad=false`, bit-exact through the
/// shim), the models run on cuDNN vs MLAS, so detections and oil differ by float reassociation.
const DET_TOL: f32 = 1e-2;
const OIL_TOL: f32 = 1e-3;
const CROP_TOL: f32 = 1e-2;

#[test]
fn gpu_matches_cpu_on_fixture_images_in_both_stage_modes() {
    let pairs = gpu_or_skip!("gpu_matches_cpu_on_fixture_images_in_both_stage_modes");
    for (cuda, cpu) in pairs {
        println!("device: {} — {}", cuda.device().device, cuda.device().reason.replace('\n', "; "));
        for stem in IMAGES {
            let img = rgb(stem);
            let a = cuda.infer_rgb8(img.as_raw(), img.width(), img.height()).unwrap();
            let b = cpu.infer_rgb8(img.as_raw(), img.width(), img.height()).unwrap();
            assert_eq!(a.modes, b.modes);
            assert_eq!(a.detections.len(), b.detections.len(), "{stem} {:?}", a.modes);
            for (x, y) in a.detections.iter().zip(&b.detections) {
                assert_eq!(x.row, y.row, "{stem}");
                assert!(max_abs(&x.bbox, &y.bbox) <= DET_TOL * 100.0, "{stem}: {:?} vs {:?}", x.bbox, y.bbox);
                assert!((x.score - y.score).abs() <= DET_TOL, "{stem}: {} vs {}", x.score, y.score);
            }
            assert_eq!(a.best, b.best, "{stem}");
            assert!((a.oil_pct - b.oil_pct).abs() <= OIL_TOL, "{stem}: oil {} vs {}", a.oil_pct, b.oil_pct);
            let d = max_abs(a.crop.as_slice().unwrap(), b.crop.as_slice().unwrap());
            assert!(d <= CROP_TOL, "{stem} {:?}: crop max abs diff {d}", a.modes);
            println!("{stem} {:?}: oil {} vs {}, crop max|Δ| {d:e}", a.modes, a.oil_pct, b.oil_pct);
        }
    }
}

#[test]
fn gpu_reuses_buffers_and_copies_nothing_between_stages() {
    let pairs = gpu_or_skip!("gpu_reuses_buffers_and_copies_nothing_between_stages");
    for (cuda, _) in pairs {
        let img = rgb("coffee");
        cuda.infer_rgb8(img.as_raw(), img.width(), img.height()).unwrap();
        let s1 = cuda.cuda_stats().unwrap();
        for _ in 0..3 {
            cuda.infer_rgb8(img.as_raw(), img.width(), img.height()).unwrap();
        }
        let s2 = cuda.cuda_stats().unwrap();
        let frames = s2.frames - s1.frames;
        assert_eq!(frames, 3);
        assert_eq!(s2.device_allocations, s1.device_allocations, "buffers were reallocated");
        assert_eq!(s2.idle_worker_buffers, s1.idle_worker_buffers, "device addresses changed");
        assert_eq!(s2.uploads - s1.uploads, frames, "one upload per frame");
        assert_eq!(s2.upload_bytes - s1.upload_bytes, frames * u64::from(img.width() * img.height() * 3));
        assert_eq!(s2.downloads - s1.downloads, 3 * frames, "detections, oil and the crop per frame");
        assert_eq!(s2.between_stage_copies, 0);
    }
}

#[test]
fn gpu_without_crop_copies_two_things_back() {
    let test = "gpu_without_crop_copies_two_things_back";
    let Some(p) = cuda_or_skip(test, Pipeline::builder(repository()).return_crop(false)) else { return };
    let img = rgb("astronaut");
    let s1 = p.cuda_stats().unwrap();
    let r = p.infer_rgb8(img.as_raw(), img.width(), img.height()).unwrap();
    let s2 = p.cuda_stats().unwrap();
    assert_eq!(r.crop.len(), 0);
    assert_eq!(s2.downloads - s1.downloads, 2);
}
