//! The pipeline against golden outputs computed by Python onnxruntime 1.31.1 over the same repository
//! (`scripts/make_fixtures.py`), possibly on another kind of CPU: Model mode and the named-tensor ensemble
//! within the tolerances of docs/tolerances.md (`DETECTIONS_TOL`, `CROP_TOL`, `OIL_TOL`, derived from what
//! ONNX Runtime's kernels measurably vary across instruction sets), Native mode within the tolerances
//! documented in `tests/fixtures/README.md`. The Model-mode and Auto tests run on the repository of each input
//! convention (`CONVENTIONS`: clients sending raw RGB, RGB/255, BGR).

use crate::common;

use std::sync::{Arc, OnceLock};

use clo_pipeline::{Pipeline, StageMode, Tensor};
use common::*;

/// Model-mode and Auto pipelines over each fixture repository of [`CONVENTIONS`], built once.
fn pipelines() -> &'static [(Pipeline, Pipeline); 3] {
    static P: OnceLock<[(Pipeline, Pipeline); 3]> = OnceLock::new();
    P.get_or_init(|| {
        CONVENTIONS.map(|(repo, _, _)| {
            let path = fixtures().join(repo);
            let model = Pipeline::builder(&path).stage_mode(StageMode::Model).build().unwrap();
            let auto = Pipeline::builder(&path).build().unwrap();
            (model, auto)
        })
    })
}

/// Each convention's repository, fed its clients' input (the raw tensor in their encoding), gives its goldens.
#[test]
fn ensemble_on_named_tensors_matches_python() {
    for ((repo, encoding, expected), (p, _)) in CONVENTIONS.iter().zip(pipelines()) {
        for stem in IMAGES {
            let g = Golden::load_in(expected, stem);
            let input = model_input_in(&rgb(stem), encoding);
            let out = p.run_ensemble([("original_image_3840_2160", Tensor::F32(input))]).unwrap();
            let mut names: Vec<_> = out.keys().cloned().collect();
            names.sort();
            assert_eq!(names, ["estimated_oil_pct", "processed_image_384_384", "yolo_detections"]);
            let what = |t: &str| format!("{repo}, {stem}: {t}");
            let dets = out["yolo_detections"].as_f32().unwrap();
            assert_eq!(dets.shape(), [1, 300, 6]);
            assert_close(&what("yolo_detections"), dets.as_slice().unwrap(), &g.detections(), DETECTIONS_TOL);
            let crop = out["processed_image_384_384"].as_f32().unwrap();
            assert_eq!(crop.shape(), [1, 3, 384, 384]);
            g.assert_crop(&what("processed_image_384_384"), crop.as_slice().unwrap(), CROP_TOL);
            let oil = out["estimated_oil_pct"].as_f32().unwrap();
            assert_eq!(oil.shape(), [1, 1]);
            assert_close1(&what("estimated_oil_pct"), oil[[0, 0]], g.oil(), OIL_TOL);
        }
    }
}

/// Model mode builds the ensemble input in the settled encoding, so `infer` gives each repository's goldens.
#[test]
fn model_mode_infer_matches_python() {
    for ((repo, encoding, expected), (p, _)) in CONVENTIONS.iter().zip(pipelines()) {
        assert_eq!(p.stage_modes(), (StageMode::Model, StageMode::Model));
        assert_eq!(p.input_encoding(), *encoding, "{repo}: {}", p.report());
        for stem in IMAGES {
            let g = Golden::load_in(expected, stem);
            let img = rgb(stem);
            let out = p.infer(&image::DynamicImage::ImageRgb8(img.clone())).unwrap();
            assert_eq!(out.frame_size, img.dimensions());
            assert_eq!(out.degenerate, None, "{repo}, {stem}");
            assert_close1(&format!("{repo}, {stem}: oil_pct"), out.oil_pct, g.oil(), OIL_TOL);
            g.assert_crop(&format!("{repo}, {stem}: crop"), out.crop.as_slice().unwrap(), CROP_TOL);
            // Detections: exactly the golden rows at or above the threshold, in row order.
            let rows = g.detections();
            let want: Vec<usize> = (0..300).filter(|r| rows[r * 6 + 4] >= 0.25).collect();
            let got: Vec<usize> = out.detections.iter().map(|d| d.row).collect();
            assert_eq!(got, want, "{repo}, {stem}: detection rows");
            for d in &out.detections {
                let r = &rows[d.row * 6..d.row * 6 + 6];
                assert_close(&format!("{repo}, {stem}: row {} box", d.row), &d.letterbox_bbox, &r[..4], DETECTIONS_TOL);
                assert_close1(&format!("{repo}, {stem}: row {} score", d.row), d.score, r[4], DETECTIONS_TOL);
                // Boxes in original pixels lie inside the frame and are ordered.
                assert!(d.bbox[0] <= d.bbox[2] && d.bbox[1] <= d.bbox[3]);
                assert!(d.bbox[2] <= (img.width() - 1) as f32 && d.bbox[3] <= (img.height() - 1) as f32);
            }
            assert_eq!(out.best_detection().map(|d| d.row), g.best_row(), "{repo}, {stem}: best row");
        }
    }
}

#[test]
fn no_detection_crops_the_whole_frame() {
    let g = Golden::load("flat_grey");
    assert_eq!(g.best_row(), None, "the fixture must have no detection");
    for (model, auto) in pipelines() {
        for p in [model, auto] {
            let img = rgb("flat_grey");
            let out = p.infer(&image::DynamicImage::ImageRgb8(img.clone())).unwrap();
            assert!(out.detections.is_empty() && out.best.is_none());
            assert_eq!(out.crop_box, [0.0, 0.0, (img.width() - 1) as f32, (img.height() - 1) as f32]);
            // A flat grey frame gives a flat grey crop.
            let v = 128.0 / 255.0;
            assert!(out.crop.iter().all(|&x| (x - v).abs() < 1e-6));
        }
    }
}

/// Auto settles each repository's input convention from its own models, and then the native stages match.
#[test]
fn auto_mode_settles_the_convention_and_native_stages_for_each_fixture_repository() {
    for ((repo, encoding, _), (_, p)) in CONVENTIONS.iter().zip(pipelines()) {
        let r = p.report();
        assert_eq!(p.input_encoding(), *encoding, "{repo}:\n{r}");
        assert_eq!(p.stage_modes(), (StageMode::Native, StageMode::Native), "{repo}:\n{r}");
        // Every candidate was measured; only the settled one is close to the native letterbox.
        assert_eq!(r.input.checks.len(), 4, "{repo}:\n{r}");
        for c in &r.input.checks {
            if c.encoding == *encoding {
                assert!(c.letterbox_max_abs <= 1e-4 && c.crop_max_abs.is_some_and(|d| d <= 1e-4), "{repo}:\n{r}");
            } else {
                assert!(c.letterbox_max_abs >= 0.1, "{repo}: {} should be far off:\n{r}", c.encoding);
            }
        }
        let text = r.to_string();
        assert!(text.contains(&format!("input        {encoding} (asked: auto")), "{text}");
    }
}

#[test]
fn native_mode_at_model_size_matches_model_mode() {
    // On a 3840x2160 frame both modes see the same pixels, so they must agree within the parity tolerance, in
    // every input convention (Model mode encodes the frame as that repository's clients do).
    let img = image::imageops::resize(&rgb("coffee"), 3840, 2160, image::imageops::FilterType::Triangle);
    let chelsea = image::imageops::resize(&rgb("chelsea"), 3840, 2160, image::imageops::FilterType::Triangle);
    for ((repo, _, _), (model_p, auto_p)) in CONVENTIONS.iter().zip(pipelines()) {
        let native = auto_p.infer(&image::DynamicImage::ImageRgb8(img.clone())).unwrap();
        let model = model_p.infer(&image::DynamicImage::ImageRgb8(img.clone())).unwrap();
        assert_eq!(native.best_detection().map(|d| d.row), model.best_detection().map(|d| d.row), "{repo}");
        assert!(max_abs(native.crop.as_slice().unwrap(), model.crop.as_slice().unwrap()) <= 1e-4, "{repo}");
        assert!((native.oil_pct - model.oil_pct).abs() <= 1e-3, "{repo}: {} vs {}", native.oil_pct, model.oil_pct);
        let report = auto_p.parity(&image::DynamicImage::ImageRgb8(chelsea.clone())).unwrap();
        assert!(report.within_tolerance(), "{repo}: {report:?}");
        assert!(report.same_best_row, "{repo}: {report:?}");
    }
}

#[test]
fn concurrent_infer_from_threads_equals_sequential() {
    let p: Arc<Pipeline> = Arc::new(Pipeline::builder(repository()).build().unwrap());
    let frames: Vec<image::DynamicImage> = IMAGES.iter().map(|s| image::DynamicImage::ImageRgb8(rgb(s))).collect();
    let sequential: Vec<_> = frames.iter().map(|f| p.infer(f).unwrap()).collect();
    let frames = Arc::new(frames);
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (p, frames, barrier) = (p.clone(), frames.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..6).map(|i| ((t + i) % 4, p.infer(&frames[(t + i) % 4]).unwrap())).collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for (i, out) in h.join().unwrap() {
            assert_eq!(out.detections, sequential[i].detections);
            assert_eq!(out.crop, sequential[i].crop);
            assert_eq!(out.oil_pct.to_bits(), sequential[i].oil_pct.to_bits());
        }
    }
}

#[test]
fn pipeline_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pipeline>();
}

/// Native mode's box coordinates against the numpy reference: 1e-3 px absolute (f32 steps near 640 are 6e-5,
/// and ±2e-7 in the letterbox moves them 1.2e-4: tests/fixtures/README.md), plus the detector's cross-CPU
/// relative variation (DETECTIONS_TOL).
const NATIVE_BOX_TOL: Tol = Tol { abs: 1e-3, rel: DETECTIONS_TOL.rel };
/// Native mode's scores, crop samples and crop means: 1e-4 absolute (tests/fixtures/README.md).
const NATIVE_SAMPLE_TOL: Tol = Tol { abs: 1e-4, rel: 0.0 };
/// Native mode's oil percentage: 1e-3 absolute (the crop's 1e-5 moves it up to 2.2e-4: tests/fixtures/README.md)
/// plus the estimator's cross-CPU relative variation (OIL_TOL).
const NATIVE_OIL_TOL: Tol = Tol { abs: 1e-3, rel: OIL_TOL.rel };

/// Native mode at each frame's own size, against the generator's numpy implementation of docs/geometry.md
/// followed by the same two networks in Python onnxruntime, within the tolerances above.
#[test]
fn native_mode_matches_native_goldens() {
    let p = Pipeline::builder(repository()).stage_mode(StageMode::Native).build().unwrap();
    for stem in IMAGES {
        let g = Golden::load(stem);
        let n = &g.json["native"];
        let out = p.infer(&image::DynamicImage::ImageRgb8(rgb(stem))).unwrap();
        assert_eq!(out.best_detection().map(|d| d.row), n["best_row"].as_u64().map(|v| v as usize), "{stem}");
        assert_close(&format!("{stem}: crop box"), &out.crop_box, &floats(&n["crop_box"]), NATIVE_BOX_TOL);
        let rows = floats(&n["yolo_detections"]);
        assert_eq!(out.detections.len() as u64, n["candidates"].as_u64().unwrap(), "{stem}: candidates");
        for d in &out.detections {
            let r = &rows[d.row * 6..d.row * 6 + 6];
            assert_close(&format!("{stem}: row {} box", d.row), &d.letterbox_bbox, &r[..4], NATIVE_BOX_TOL);
            assert_close1(&format!("{stem}: row {} score", d.row), d.score, r[4], NATIVE_SAMPLE_TOL);
        }
        let stats = &n["crop_stats"];
        let idx: Vec<usize> =
            stats["subsample_index"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let want = floats(&stats["subsample"]);
        let mut got = Vec::with_capacity(want.len());
        for c in 0..3 {
            for &i in &idx {
                for &j in &idx {
                    got.push(out.crop[[0, c, i, j]]);
                }
            }
        }
        assert_close(&format!("{stem}: crop samples"), &got, &want, NATIVE_SAMPLE_TOL);
        for (c, m) in floats(&stats["mean"]).iter().enumerate() {
            let mean = out.crop.index_axis(ndarray::Axis(1), c).mean().unwrap();
            assert_close1(&format!("{stem}: crop channel {c} mean"), mean, *m, NATIVE_SAMPLE_TOL);
        }
        let want_oil = n["estimated_oil_pct"].as_f64().unwrap() as f32;
        assert_close1(&format!("{stem}: oil_pct"), out.oil_pct, want_oil, NATIVE_OIL_TOL);
    }
}
