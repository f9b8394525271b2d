//! The CLO roles come from the ensemble's tensor wiring, not from model or folder names; the served version
//! follows the version policy.

use crate::common;

use clo_pipeline::{Pipeline, StageMode};
use common::*;

/// Renames a model: its folder and its config's `name` (the test writes the ensemble config itself).
fn rename(repo: &TempRepo, from: &str, to: &str) {
    std::fs::rename(repo.path.join(from), repo.path.join(to)).unwrap();
    repo.edit(to, &format!("name: \"{from}\""), &format!("name: \"{to}\""));
}

#[test]
fn renamed_models_and_reordered_steps_still_run_as_the_clo_pipeline() {
    let repo = TempRepo::new();
    rename(&repo, "preprocessing", "step_a");
    rename(&repo, "yolov8", "detector_x");
    rename(&repo, "postprocessing", "cropper");
    rename(&repo, "efficientnet_v2", "oil_head");
    std::fs::rename(repo.path.join("ensemble"), repo.path.join("clo")).unwrap();
    // The steps listed estimator-first, as repeated `step { }` fields, with other tensor names: the plan
    // orders them by data dependencies and the roles come from who reads what.
    std::fs::write(
        repo.config("clo"),
        r#"name: "clo"
platform: "ensemble"
max_batch_size: 0
input { name: "frame" data_type: TYPE_FP32 dims: [1, 3, 2160, 3840] }
output { name: "boxes" data_type: TYPE_FP32 dims: [1, 300, 6] }
output { name: "patch" data_type: TYPE_FP32 dims: [1, 3, 384, 384] }
output { name: "oil" data_type: TYPE_FP32 dims: [1, 1] }
ensemble_scheduling {
  step { model_name: "oil_head" model_version: -1
         input_map { key: "processed_image_384_384" value: "patch" }
         output_map { key: "estimated_oil_pct" value: "oil" } }
  step { model_name: "cropper" model_version: -1
         input_map { key: "yolo_detections" value: "boxes" }
         input_map { key: "original_image_3840_2160" value: "frame" }
         output_map { key: "processed_image_384_384" value: "patch" } }
  step { model_name: "detector_x" model_version: -1
         input_map { key: "preprocessed_640_640_image" value: "lb" }
         output_map { key: "yolo_detections" value: "boxes" } }
  step { model_name: "step_a" model_version: -1
         input_map { key: "original_image_3840_2160" value: "frame" }
         output_map { key: "preprocessed_640_640_image" value: "lb" } }
}
"#,
    )
    .unwrap();

    let pipeline = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build().unwrap();
    let order: Vec<&str> = pipeline.ensemble().plan().steps.iter().map(|s| s.model.as_str()).collect();
    assert_eq!(order, ["step_a", "detector_x", "cropper", "oil_head"]);
    let g = Golden::load("coffee");
    let out = pipeline.infer(&image::DynamicImage::ImageRgb8(rgb("coffee"))).unwrap();
    assert_close1("coffee: oil_pct", out.oil_pct, g.oil(), OIL_TOL);
}

#[test]
fn the_highest_version_is_served_by_default_and_a_pinned_one_when_asked() {
    let repo = TempRepo::new();
    // A version 2 folder (a copy of version 1): the default policy (latest 1) serves 2, not 1.
    std::fs::create_dir_all(repo.path.join("efficientnet_v2/2")).unwrap();
    std::fs::copy(repo.path.join("efficientnet_v2/1/model.onnx"), repo.path.join("efficientnet_v2/2/model.onnx"))
        .unwrap();
    let p = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build().unwrap();
    let step = p.ensemble().plan().steps.iter().find(|s| s.model == "efficientnet_v2").unwrap();
    assert_eq!(step.version, 2);
    // A pinned version in the ensemble is used as is.
    repo.edit(
        "ensemble",
        "model_name: \"efficientnet_v2\"\n      model_version: -1",
        "model_name: \"efficientnet_v2\"\n      model_version: 1",
    );
    let err = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build().unwrap_err();
    assert!(err.to_string().contains("version 1"), "only version 2 is served by the default policy: {err}");
    repo.edit("efficientnet_v2", "max_batch_size: 0", "max_batch_size: 0\nversion_policy: { all: {} }");
    let p = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build().unwrap();
    let step = p.ensemble().plan().steps.iter().find(|s| s.model == "efficientnet_v2").unwrap();
    assert_eq!(step.version, 1);
}
