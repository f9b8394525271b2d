//! Per-stage and end-to-end benches through the public API, on a 3840 × 2160 frame: decode, letterbox Native vs
//! Model, detector, crop Native vs Model, estimator, end-to-end Native vs Model, and `infer_batch` vs `infer` (also
//! on `tests/fixtures/model_repository_batched`, where `infer_batch` uses the networks' batch dimension).
//!
//! Stages are timed with `Inference::timings` (criterion's `iter_custom` sums the stage's own durations), so
//! each figure is exactly what the pipeline reports for that stage. Runs on the fixture repository; set
//! `CLO_REALISTIC_REPO` to a realistic repository (scripts/make-realistic-repo.sh) to bench that one too.
//! Short runs: `cargo bench --bench pipeline`. Device: the CPU.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clo_pipeline::image::{DynamicImage, RgbImage};
use clo_pipeline::{Inference, Pipeline, StageMode, StageTimings};
use criterion::{Criterion, black_box, criterion_group, criterion_main};

const W: u32 = 3840;
const H: u32 = 2160;

fn frame() -> RgbImage {
    RgbImage::from_fn(W, H, |x, y| {
        let v = (x * 7 + y * 3) as u8;
        clo_pipeline::image::Rgb([v, v.wrapping_mul(3), (x / 16 + y / 16) as u8])
    })
}

fn build(repo: &PathBuf, mode: StageMode) -> Pipeline {
    Pipeline::builder(repo).stage_mode(mode).build().expect("pipeline")
}

/// Benches one stage of `p` through its timings: each iteration runs a whole frame, only `pick` is counted.
fn stage(c: &mut Criterion, name: &str, p: &Pipeline, f: &RgbImage, pick: fn(&StageTimings) -> Duration) {
    let mut out = Inference::default();
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut sum = Duration::ZERO;
            for _ in 0..iters {
                p.infer_rgb8_into(f.as_raw(), W, H, &mut out).expect("infer");
                sum += pick(&out.timings);
            }
            sum
        })
    });
}

fn bench_repo(c: &mut Criterion, tag: &str, repo: PathBuf) {
    let f = frame();
    let native = build(&repo, StageMode::Native);
    let model = build(&repo, StageMode::Model);

    let mut png = Vec::new();
    DynamicImage::ImageRgb8(f.clone())
        .write_to(&mut std::io::Cursor::new(&mut png), clo_pipeline::image::ImageFormat::Png)
        .expect("png");
    c.bench_function(&format!("{tag}/decode png 3840x2160"), |b| {
        b.iter(|| clo_pipeline::image::load_from_memory(black_box(&png)).expect("decode"))
    });
    stage(c, &format!("{tag}/letterbox/native"), &native, &f, |t| t.preprocess);
    stage(c, &format!("{tag}/letterbox/model"), &model, &f, |t| t.preprocess);
    stage(c, &format!("{tag}/detector"), &native, &f, |t| t.detect);
    stage(c, &format!("{tag}/crop/native"), &native, &f, |t| t.postprocess);
    stage(c, &format!("{tag}/crop/model"), &model, &f, |t| t.postprocess);
    stage(c, &format!("{tag}/estimator"), &native, &f, |t| t.estimate);
    stage(c, &format!("{tag}/end-to-end/native"), &native, &f, |t| t.total);
    stage(c, &format!("{tag}/end-to-end/model"), &model, &f, |t| t.total);

    // Throughput: 4 frames with infer_batch (its default threads) vs infer in a loop, per frame.
    let frames: Vec<DynamicImage> = (0..4).map(|_| DynamicImage::ImageRgb8(f.clone())).collect();
    c.bench_function(&format!("{tag}/4 frames/infer sequential"), |b| {
        b.iter(|| frames.iter().map(|fr| native.infer(fr).expect("infer").oil_pct).sum::<f32>())
    });
    c.bench_function(&format!("{tag}/4 frames/infer_batch"), |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for r in native.infer_batch(&frames) {
                    black_box(r.expect("infer_batch").oil_pct);
                }
            }
            t.elapsed()
        })
    });
}

/// The batch-dimension path: 4 frames through `infer_batch` (one detector and one estimator run of batch 4) vs
/// `infer` in a loop, on the fixture repository whose networks batch (`max_batch_size: 4`).
fn bench_batched(c: &mut Criterion, repo: PathBuf) {
    let p = build(&repo, StageMode::Native);
    let frames: Vec<DynamicImage> = (0..4).map(|_| DynamicImage::ImageRgb8(frame())).collect();
    c.bench_function("fixture-batched/4 frames/infer sequential", |b| {
        b.iter(|| frames.iter().map(|fr| p.infer(fr).expect("infer").oil_pct).sum::<f32>())
    });
    c.bench_function("fixture-batched/4 frames/infer_batch (batch dim)", |b| {
        b.iter(|| p.infer_batch(&frames).into_iter().map(|r| r.expect("infer_batch").oil_pct).sum::<f32>())
    });
}

fn pipeline(c: &mut Criterion) {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model_repository");
    bench_repo(c, "fixture", fixture);
    bench_batched(c, PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model_repository_batched"));
    if let Some(r) = std::env::var_os("CLO_REALISTIC_REPO") {
        bench_repo(c, "realistic", PathBuf::from(r));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = pipeline
}
criterion_main!(benches);
