//! `Pipeline::infer_batch`: the batch-dimension path on `tests/fixtures/model_repository_batched` (yolov8 and
//! efficientnet_v2 with `max_batch_size: 4`) equals per-frame `infer`, and really batches; on the unbatched
//! fixture repository the thread-pipelined path equals sequential `infer`.

use crate::common;

use std::sync::OnceLock;

use clo_pipeline::image::{self, DynamicImage};
use clo_pipeline::{Inference, NetworkRuns, Pipeline, StageMode};

/// Largest |batched − per-frame| allowed on detections, crop and oil. Batched convolutions may order their float
/// operations differently; on the fixture models (ONNX Runtime 1.31.1, CPU) the measured difference is 0
/// (printed by `equal_within`).
const TOL: f32 = 1e-5;

fn batched_repository() -> std::path::PathBuf {
    common::fixtures().join("model_repository_batched")
}

fn batched() -> &'static Pipeline {
    static P: OnceLock<Pipeline> = OnceLock::new();
    P.get_or_init(|| Pipeline::builder(batched_repository()).build().unwrap())
}

/// Nine frames of mixed sizes and layouts: the four fixture images (incl. the no-detection `flat_grey`), an RGBA
/// and a grey conversion, a resized and a cropped photo, and a 4-channel flat frame.
fn frames() -> Vec<DynamicImage> {
    let load = |n: &str| image::open(common::image_path(&format!("{n}.png"))).unwrap();
    let coffee = load("coffee");
    let chelsea = load("chelsea");
    vec![
        coffee.clone(),
        chelsea.clone(),
        load("astronaut"),
        load("flat_grey"),
        DynamicImage::ImageRgba8(chelsea.to_rgba8()),
        DynamicImage::ImageLuma8(coffee.to_luma8()),
        coffee.resize_exact(1280, 720, image::imageops::FilterType::Triangle),
        chelsea.crop_imm(40, 30, 200, 150),
        DynamicImage::ImageRgba8(load("flat_grey").to_rgba8()),
    ]
}

fn runs_since(p: &Pipeline, before: NetworkRuns) -> (u64, u64) {
    let now = p.network_runs();
    (now.detector - before.detector, now.estimator - before.estimator)
}

/// Asserts `a` equals `b` (all but the timings) within `TOL`; returns the largest difference seen.
fn equal_within(what: &str, a: &Inference, b: &Inference) -> f32 {
    assert_eq!(a.detections.len(), b.detections.len(), "{what}: detection count");
    assert_eq!(a.best, b.best, "{what}: best");
    assert_eq!(a.frame_size, b.frame_size, "{what}: frame size");
    assert_eq!(a.modes, b.modes, "{what}: modes");
    assert_eq!(a.crop.dim(), b.crop.dim(), "{what}: crop shape");
    let mut worst = 0f32;
    for (x, y) in a.detections.iter().zip(&b.detections) {
        assert_eq!(x.row, y.row, "{what}: detection row");
        assert_eq!(x.class, y.class, "{what}: detection class");
        let xs = x.bbox.iter().chain(&x.letterbox_bbox).chain([&x.score]);
        let ys = y.bbox.iter().chain(&y.letterbox_bbox).chain([&y.score]);
        worst = xs.zip(ys).fold(worst, |m, (p, q)| m.max((p - q).abs()));
    }
    worst = a.crop_box.iter().zip(&b.crop_box).fold(worst, |m, (p, q)| m.max((p - q).abs()));
    worst = a.crop.iter().zip(b.crop.iter()).fold(worst, |m, (p, q)| m.max((p - q).abs()));
    worst = worst.max((a.oil_pct - b.oil_pct).abs());
    assert!(worst <= TOL, "{what}: max abs difference {worst} > {TOL}");
    worst
}

#[test]
fn batched_repository_loads_and_settles_native() {
    let p = batched();
    assert_eq!(p.stage_modes(), (StageMode::Native, StageMode::Native));
    let repo = p.ensemble().repository();
    assert_eq!(repo.model("yolov8").unwrap().config.max_batch_size, 4);
    assert_eq!(repo.model("efficientnet_v2").unwrap().config.max_batch_size, 4);
    assert_eq!(repo.model("preprocessing").unwrap().config.max_batch_size, 0);
    assert_eq!(p.geometry().letterbox, 640);
    assert_eq!(p.geometry().crop, 384);
}

#[test]
fn infer_batch_equals_infer_on_the_batched_repository() {
    let p = batched();
    let all = frames();
    let singles: Vec<Inference> = all.iter().map(|f| p.infer(f).unwrap()).collect();
    assert!(singles.iter().any(|r| r.best.is_none()), "flat_grey gives no detection");
    assert!(singles.iter().filter(|r| r.best.is_some()).count() >= 5, "the photos give detections");
    let mut worst = 0f32;
    for n in [1, 3, 4, 5, 9] {
        let batch = p.infer_batch(&all[..n]);
        assert_eq!(batch.len(), n);
        for (i, (r, single)) in batch.iter().zip(&singles).enumerate() {
            let r = r.as_ref().unwrap_or_else(|e| panic!("batch of {n}, frame {i}: {e}"));
            worst = worst.max(equal_within(&format!("batch of {n}, frame {i}"), r, single));
            let t = r.timings;
            assert_eq!(t.total, t.preprocess + t.detect + t.postprocess + t.estimate, "total is the stages' sum");
        }
    }
    println!("infer_batch vs infer on model_repository_batched: max abs difference {worst:e}");
}

#[test]
fn infer_batch_runs_each_network_once_per_chunk() {
    // Its own pipeline, so that no other test's runs are counted.
    let p = Pipeline::builder(batched_repository()).build().unwrap();
    let all = frames();
    for (n, chunks) in [(1, 1), (3, 1), (4, 1), (5, 2), (9, 3)] {
        let before = p.network_runs();
        let batch = p.infer_batch(&all[..n]);
        assert!(batch.iter().all(Result::is_ok));
        assert_eq!(runs_since(&p, before), (chunks, chunks), "{n} frames in chunks of 4");
        // Frames in one chunk share the batched runs' time equally.
        let first = batch[0].as_ref().unwrap().timings;
        for r in batch.iter().take(4) {
            assert_eq!(r.as_ref().unwrap().timings.detect, first.detect);
            assert_eq!(r.as_ref().unwrap().timings.estimate, first.estimate);
        }
    }
    let before = p.network_runs();
    for f in &all {
        p.infer(f).unwrap();
    }
    assert_eq!(runs_since(&p, before), (9, 9), "infer runs each network once per frame");
}

#[test]
fn a_frame_that_fails_fails_alone() {
    let p = batched();
    let mut all = frames();
    all.insert(2, DynamicImage::new_rgb8(0, 0));
    all.insert(6, DynamicImage::new_rgb8(3, 0));
    let batch = p.infer_batch(&all);
    assert_eq!(batch.len(), all.len());
    for (i, (r, f)) in batch.iter().zip(&all).enumerate() {
        if f.width() == 0 || f.height() == 0 {
            assert!(
                matches!(r, Err(clo_pipeline::Error::Image { .. })),
                "frame {i} ({}x{}): expected an image error, got {r:?}",
                f.width(),
                f.height()
            );
        } else {
            equal_within(&format!("frame {i}"), r.as_ref().unwrap(), &p.infer(f).unwrap());
        }
    }
}

#[test]
fn model_stage_modes_run_frame_by_frame() {
    let p = Pipeline::builder(batched_repository()).stage_mode(StageMode::Model).batch_threads(1).build().unwrap();
    let all = frames();
    let before = p.network_runs();
    let batch = p.infer_batch(&all[..3]);
    assert_eq!(runs_since(&p, before), (3, 3));
    for (i, (r, f)) in batch.iter().zip(&all).enumerate() {
        equal_within(&format!("model mode, frame {i}"), r.as_ref().unwrap(), &p.infer(f).unwrap());
    }
}

#[test]
fn unbatched_repository_infer_batch_equals_sequential_infer() {
    let p = Pipeline::builder(common::repository()).batch_threads(2).build().unwrap();
    let all = frames();
    let before = p.network_runs();
    let batch = p.infer_batch(&all);
    assert_eq!(runs_since(&p, before), (9, 9), "no batch dimension: one run per frame");
    for (i, (r, f)) in batch.iter().zip(&all).enumerate() {
        equal_within(&format!("unbatched, frame {i}"), r.as_ref().unwrap(), &p.infer(f).unwrap());
    }
}

#[test]
fn batched_and_unbatched_repositories_agree() {
    // Same weights: the batched networks give the unbatched ones' results.
    let unbatched = Pipeline::builder(common::repository()).build().unwrap();
    let all = frames();
    for (i, (r, f)) in batched().infer_batch(&all).iter().zip(&all).enumerate() {
        equal_within(&format!("frame {i}"), r.as_ref().unwrap(), &unbatched.infer(f).unwrap());
    }
}
