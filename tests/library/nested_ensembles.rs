//! Nested ensembles (a step that is itself an ensemble) load and run, as in Triton, and give the same
//! outputs as the flat ensemble on the fixture repository.

use crate::common::*;
use clo_pipeline::repository::Repository;
use clo_pipeline::{Pipeline, StageMode, Tensor};

/// The fixture repository with its ensemble split in two nested ensembles: `front` (preprocessing, then
/// yolov8, whose letterbox stays inside it under the same name the flat ensemble uses) and `back`
/// (postprocessing, then efficientnet_v2, which also hands out its crop), and an outer `ensemble` of the two.
fn nested_repo() -> TempRepo {
    let repo = TempRepo::new();
    let write = |model: &str, text: &str| {
        std::fs::create_dir_all(repo.path.join(model).join("1")).unwrap();
        std::fs::write(repo.path.join(model).join("config.pbtxt"), text).unwrap();
    };
    write(
        "front",
        r#"name: "front"
platform: "ensemble"
input { name: "frame" data_type: TYPE_FP32 dims: [1, 3, 2160, 3840] }
output { name: "boxes" data_type: TYPE_FP32 dims: [1, 300, 6] }
ensemble_scheduling {
  step { model_name: "preprocessing" model_version: -1
         input_map { key: "original_image_3840_2160" value: "frame" }
         output_map { key: "preprocessed_640_640_image" value: "preprocessed_640_640_image" } }
  step { model_name: "yolov8" model_version: -1
         input_map { key: "preprocessed_640_640_image" value: "preprocessed_640_640_image" }
         output_map { key: "yolo_detections" value: "boxes" } }
}
"#,
    );
    write(
        "back",
        r#"name: "back"
platform: "ensemble"
input { name: "frame" data_type: TYPE_FP32 dims: [1, 3, 2160, 3840] }
input { name: "boxes" data_type: TYPE_FP32 dims: [1, 300, 6] }
output { name: "crop" data_type: TYPE_FP32 dims: [1, 3, 384, 384] }
output { name: "oil" data_type: TYPE_FP32 dims: [1, 1] }
ensemble_scheduling {
  step { model_name: "postprocessing" model_version: -1
         input_map { key: "original_image_3840_2160" value: "frame" }
         input_map { key: "yolo_detections" value: "boxes" }
         output_map { key: "processed_image_384_384" value: "crop" } }
  step { model_name: "efficientnet_v2" model_version: -1
         input_map { key: "processed_image_384_384" value: "crop" }
         output_map { key: "estimated_oil_pct" value: "oil" } }
}
"#,
    );
    write(
        "ensemble",
        r#"name: "ensemble"
platform: "ensemble"
max_batch_size: 0
input { name: "original_image_3840_2160" data_type: TYPE_FP32 dims: [1, 3, 2160, 3840] }
output { name: "yolo_detections" data_type: TYPE_FP32 dims: [1, 300, 6] }
output { name: "processed_image_384_384" data_type: TYPE_FP32 dims: [1, 3, 384, 384] }
output { name: "estimated_oil_pct" data_type: TYPE_FP32 dims: [1, 1] }
ensemble_scheduling {
  step { model_name: "back" model_version: -1
         input_map { key: "frame" value: "original_image_3840_2160" }
         input_map { key: "boxes" value: "yolo_detections" }
         output_map { key: "crop" value: "processed_image_384_384" }
         output_map { key: "oil" value: "estimated_oil_pct" } }
  step { model_name: "front" model_version: -1
         input_map { key: "frame" value: "original_image_3840_2160" }
         output_map { key: "boxes" value: "yolo_detections" } }
}
"#,
    );
    repo
}

#[test]
fn a_nested_ensemble_is_planned_as_its_models() {
    let repo = nested_repo();
    let r = Repository::open(&repo.path).unwrap();
    let outer = r.model("ensemble").unwrap();
    let plan = clo_pipeline::EnsemblePlan::build(&r, outer).unwrap();
    let order: Vec<&str> = plan.steps.iter().map(|s| s.model.as_str()).collect();
    assert_eq!(order, ["preprocessing", "yolov8", "postprocessing", "efficientnet_v2"]);
    // The inner ensembles' own tensors are renamed apart from the outer ones; the mapped ones are the outer's.
    let pre = &plan.steps[0];
    assert_eq!(pre.inputs, [("original_image_3840_2160".to_string(), "original_image_3840_2160".to_string())]);
    assert_eq!(pre.outputs[0].1, "front@1/preprocessed_640_640_image");
    assert_eq!(plan.steps[1].outputs[0].1, "yolo_detections");
    assert!(plan.tensors.contains_key("front@1/preprocessed_640_640_image"));
    // The letterbox is dropped once yolov8 has read it.
    assert_eq!(plan.steps[1].release_after, ["front@1/preprocessed_640_640_image"]);
}

#[test]
fn a_nested_ensemble_gives_the_flat_ensembles_outputs() {
    let flat = Pipeline::builder(repository()).stage_mode(StageMode::Model).build().unwrap();
    let repo = nested_repo();
    let nested = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build().unwrap();
    let input = model_input(&rgb("coffee"));
    let run = |p: &Pipeline| p.run_ensemble([("original_image_3840_2160", Tensor::F32(input.clone()))]).unwrap();
    let (a, b) = (run(&flat), run(&nested));
    assert_eq!(a.len(), 3);
    for (name, t) in &a {
        let u = &b[name];
        assert_eq!(t.shape(), u.shape(), "{name}");
        assert_eq!(t.as_f32().unwrap(), u.as_f32().unwrap(), "{name}: same models, same input, same bits");
    }
    // And the typed CLO result, through the role recognition.
    let img = image::DynamicImage::ImageRgb8(rgb("coffee"));
    let (x, y) = (flat.infer(&img).unwrap(), nested.infer(&img).unwrap());
    assert_eq!(x.oil_pct, y.oil_pct);
    assert_eq!(x.detections.len(), y.detections.len());
    assert_eq!(x.crop, y.crop);
}

#[test]
fn nested_ensembles_are_checked_as_triton_checks_them() {
    // The inner ensemble's declared output disagrees with its own step, and with the outer ensemble.
    let repo = nested_repo();
    repo.edit(
        "back",
        "output { name: \"oil\" data_type: TYPE_FP32 dims: [1, 1] }",
        "output { name: \"oil\" data_type: TYPE_FP32 dims: [1, 2] }",
    );
    let text = Repository::open(&repo.path).unwrap_err().to_string();
    assert!(
        text.contains("in ensemble back, ensemble tensor oil: inconsistent shape: [1,2] is inferred from model back while [1,1] is inferred from model efficientnet_v2"),
        "{text}"
    );
    // Only the outer use is wrong: the outer ensemble's declaration against the inner ensemble's.
    let repo = nested_repo();
    repo.edit(
        "ensemble",
        "output { name: \"estimated_oil_pct\" data_type: TYPE_FP32 dims: [1, 1] }",
        "output { name: \"estimated_oil_pct\" data_type: TYPE_FP32 dims: [1, 2] }",
    );
    let text = Repository::open(&repo.path).unwrap_err().to_string();
    assert!(
        text.contains("in ensemble ensemble, ensemble tensor estimated_oil_pct: inconsistent shape: [1,2] is inferred from model ensemble while [1,1] is inferred from model back"),
        "{text}"
    );
}
