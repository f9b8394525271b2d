//! Bad repositories and bad frames give typed errors that name the cause; explicit load lists behave like
//! Triton's `--model-control-mode=explicit`.

use crate::common;

use clo_pipeline::{EnsembleErrorKind, Error, Pipeline, StageMode};
use common::*;

fn build(repo: &TempRepo) -> Result<Pipeline, Error> {
    Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build()
}

#[test]
fn missing_repository_names_the_path() {
    let err = Pipeline::builder("/nonexistent/clo-repo").build().unwrap_err();
    assert!(err.to_string().contains("/nonexistent/clo-repo"), "{err}");
}

#[test]
fn config_syntax_error_has_file_line_and_column() {
    let repo = TempRepo::new();
    repo.edit("yolov8", "data_type: TYPE_FP32", "data_type TYPE_FP32 ]");
    let err = build(&repo).unwrap_err();
    match &err {
        Error::ConfigSyntax { path, line, col, .. } => {
            assert_eq!(path, &repo.config("yolov8"));
            assert!(*line > 1 && *col > 1, "{err}");
        }
        other => panic!("expected ConfigSyntax, got {other:?}"),
    }
    assert!(err.to_string().contains("yolov8/config.pbtxt:"), "{err}");
}

#[test]
fn declared_dims_that_differ_from_the_onnx_file_are_a_mismatch() {
    let repo = TempRepo::new();
    repo.edit("efficientnet_v2", "dims: [ 1, 1 ]", "dims: [ 1, 2 ]");
    let err = build(&repo).unwrap_err();
    match &err {
        Error::ModelMismatch { model, tensor, expected, found, path } => {
            assert_eq!(model, "efficientnet_v2");
            assert_eq!(tensor, "estimated_oil_pct");
            assert!(expected.contains('2') && found.contains('1'), "{err}");
            assert!(path.ends_with("efficientnet_v2/1/model.onnx"), "{err}");
        }
        other => panic!("expected ModelMismatch, got {other:?}"),
    }
}

#[test]
fn declared_data_type_that_differs_from_the_onnx_file_is_a_mismatch() {
    let repo = TempRepo::new();
    repo.edit("yolov8", "TYPE_FP32", "TYPE_FP16");
    let err = build(&repo).unwrap_err();
    assert!(matches!(&err, Error::ModelMismatch { model, .. } if model == "yolov8"), "{err:?}");
    assert!(err.to_string().contains("TYPE_FP16"), "{err}");
}

#[test]
fn unknown_model_in_the_ensemble_is_an_error() {
    let repo = TempRepo::new();
    repo.edit("ensemble", "model_name: \"yolov8\"", "model_name: \"yolov9\"");
    let err = build(&repo).unwrap_err();
    assert!(matches!(&err, Error::Ensemble { kind: EnsembleErrorKind::UnknownModel, .. }), "{err:?}");
    assert!(err.to_string().contains("yolov9"), "{err}");
}

#[test]
fn a_cycle_in_the_ensemble_is_an_error() {
    let repo = TempRepo::new();
    // yolov8 now reads the crop that postprocessing makes from yolov8's detections.
    let p = repo.config("ensemble");
    let s = std::fs::read_to_string(&p).unwrap();
    let s = s.replacen(
        "key: \"preprocessed_640_640_image\"\n        value: \"preprocessed_640_640_image\"\n      }\n      output_map {\n        key: \"yolo_detections\"",
        "key: \"preprocessed_640_640_image\"\n        value: \"processed_image_384_384\"\n      }\n      output_map {\n        key: \"yolo_detections\"",
        1,
    );
    std::fs::write(&p, s).unwrap();
    // Triton's message, with the cycle named.
    let err = build(&repo).unwrap_err();
    assert!(matches!(&err, Error::Config { model, .. } if model == "ensemble"), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("output 'yolo_detections' for ensemble 'ensemble' is not written"), "{err}");
    assert!(text.contains("a cycle"), "{err}");
}

#[test]
fn a_tensor_produced_twice_is_an_error() {
    let repo = TempRepo::new();
    repo.edit("ensemble", "value: \"processed_image_384_384\"", "value: \"yolo_detections\"");
    let err = build(&repo).unwrap_err();
    assert!(
        err.to_string().contains(
            "ensemble tensor 'yolo_detections' can appear in an output map only once for ensemble 'ensemble' step 2"
        ),
        "{err}"
    );
}

#[test]
fn a_truncated_onnx_file_names_the_model() {
    let repo = TempRepo::new();
    let f = repo.path.join("yolov8/1/model.onnx");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let err = build(&repo).unwrap_err();
    assert!(matches!(&err, Error::Ort { model, .. } if model == "yolov8"), "{err:?}");
}

#[test]
fn explicit_load_list_skips_models_the_ensemble_does_not_need() {
    let repo = TempRepo::new();
    // A broken model nobody uses: loading everything fails, loading the ensemble explicitly does not.
    std::fs::create_dir_all(repo.path.join("unused/1")).unwrap();
    std::fs::write(repo.path.join("unused/config.pbtxt"), "name: \"unused\"\nplatform: \"onnxruntime_onnx\"\n")
        .unwrap();
    assert!(build(&repo).is_err());
    let p = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).load_models(["ensemble"]).build().unwrap();
    assert!(p.ensemble().repository().model("unused").is_none());
    let err = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).load_models(["nope"]).build().unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn bad_frames_are_typed_errors() {
    let p = Pipeline::builder(repository()).stage_mode(StageMode::Native).build().unwrap();
    for (len, w, h) in [(0usize, 0u32, 0u32), (10, 2, 2), (12, 2, 3), (0, 4, 4)] {
        let frame = vec![0u8; len];
        let err = p.infer_rgb8(&frame, w, h).unwrap_err();
        assert!(matches!(err, Error::Image { .. }), "{err:?}");
    }
    // 1x1 and 1xN frames are valid and run.
    for (w, h) in [(1u32, 1u32), (1, 97), (97, 1)] {
        let out = p.infer_rgb8(&vec![200u8; (w * h * 3) as usize], w, h).unwrap();
        assert!(out.oil_pct.is_finite());
    }
}

#[test]
fn wrong_ensemble_input_is_a_typed_error() {
    let p = Pipeline::builder(repository()).stage_mode(StageMode::Model).build().unwrap();
    let small = clo_pipeline::Tensor::F32(ndarray::ArrayD::zeros(vec![1, 3, 10, 10]));
    let err = p.run_ensemble([("original_image_3840_2160", small.clone())]).unwrap_err();
    assert!(matches!(&err, Error::Tensor { tensor, .. } if tensor == "original_image_3840_2160"), "{err:?}");
    let err = p.run_ensemble([("wrong_name", small)]).unwrap_err();
    assert!(matches!(err, Error::Tensor { .. }));
}
