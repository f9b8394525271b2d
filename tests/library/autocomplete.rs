//! Triton's auto-complete (its behaviour without `--strict-model-config=true`): `strict_model_config(false)`
//! completes a missing `config.pbtxt`, or a config without inputs or outputs, from the ONNX file as Triton's
//! ONNX Runtime backend does. Strict stays the default.

use std::path::{Path, PathBuf};

use crate::common::*;
use clo_pipeline::repository::{LoadOptions, ModelConfig, ModelSignature, Repository};
use clo_pipeline::runtime::Runtime;
use clo_pipeline::{Pipeline, StageMode, Tensor};

fn inspector() -> impl Fn(&str, &Path) -> clo_pipeline::Result<ModelSignature> {
    let rt = Runtime::load(None).unwrap();
    move |m: &str, f: &Path| rt.signature(m, f)
}

fn written(repo: &Path, model: &str) -> ModelConfig {
    ModelConfig::from_file(&repo.join(model).join("config.pbtxt"), model).unwrap()
}

fn completed(repo: &Path, model: &str) -> (ModelConfig, Vec<String>) {
    let inspect = inspector();
    let reports = Repository::check(repo, &LoadOptions::default().strict_model_config(false), Some(&inspect)).unwrap();
    let r = reports.into_iter().find(|r| r.name == model).unwrap();
    if let Some(e) = r.error {
        panic!("{model}: {e}");
    }
    (r.config.unwrap(), r.warnings)
}

/// What auto-completion fills in, compared with a written config.
fn same_io(a: &ModelConfig, b: &ModelConfig) {
    assert_eq!((&a.platform, &a.backend, a.max_batch_size), (&b.platform, &b.backend, b.max_batch_size), "{}", a.name);
    assert_eq!(a.inputs, b.inputs, "{}", a.name);
    assert_eq!(a.outputs, b.outputs, "{}", a.name);
}

fn copy_of(src: &Path) -> TempRepo {
    let repo = TempRepo::new();
    std::fs::remove_dir_all(&repo.path).unwrap();
    copy(src, &repo.path);
    repo
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst: PathBuf = to.join(e.file_name());
        if e.path().is_dir() {
            copy(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[test]
fn a_missing_config_is_completed_from_the_onnx_file() {
    let repo = TempRepo::new();
    let original = written(&repo.path, "efficientnet_v2");
    std::fs::remove_file(repo.config("efficientnet_v2")).unwrap();

    // Strict (the default): a folder without config.pbtxt is no model, so the ensemble misses one.
    let err = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build().unwrap_err();
    assert!(
        err.to_string()
            .contains("ensemble ensemble contains models that are not available or ambiguous: efficientnet_v2"),
        "{err}"
    );

    // Auto-complete: the config Triton would make is the one the fixture writes, and the outputs agree.
    let (config, _) = completed(&repo.path, "efficientnet_v2");
    same_io(&config, &original);
    assert_eq!(config.default_model_filename.as_deref(), Some("model.onnx"));
    let auto = Pipeline::builder(&repo.path).strict_model_config(false).stage_mode(StageMode::Model).build().unwrap();
    let flat = Pipeline::builder(repository()).stage_mode(StageMode::Model).build().unwrap();
    let input = model_input(&rgb("chelsea"));
    let run = |p: &Pipeline| p.run_ensemble([("original_image_3840_2160", Tensor::F32(input.clone()))]).unwrap();
    let (a, b) = (run(&flat), run(&auto));
    for (name, t) in &a {
        assert_eq!(t.as_f32().unwrap(), b[name].as_f32().unwrap(), "{name}");
    }
}

#[test]
fn configs_without_inputs_and_outputs_are_completed_like_the_written_ones() {
    let repo = TempRepo::new();
    let models = ["preprocessing", "yolov8", "postprocessing", "efficientnet_v2"];
    let originals: Vec<ModelConfig> = models.iter().map(|m| written(&repo.path, m)).collect();
    // Only the platform (or only the backend) is left.
    for (i, m) in models.iter().enumerate() {
        let text = if i % 2 == 0 { "platform: \"onnxruntime_onnx\"\n" } else { "backend: \"onnxruntime\"\n" };
        std::fs::write(repo.config(m), text).unwrap();
    }
    for (m, original) in models.iter().zip(&originals) {
        let (config, warnings) = completed(&repo.path, m);
        same_io(&config, original);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    // Strict: Triton's ONNX Runtime backend compares the (empty) inputs with the file's.
    let err = Pipeline::builder(&repo.path).stage_mode(StageMode::Model).build().unwrap_err();
    assert!(err.to_string().contains("configuration expects 0 inputs, model provides 1"), "{err}");
    // Without a way to read the ONNX files, auto-completion says what it needs.
    let err = Repository::open_with(&repo.path, &LoadOptions::default().strict_model_config(false)).unwrap_err();
    assert!(err.to_string().contains("Repository::open_inspecting"), "{err}");
}

#[test]
fn a_batching_model_gets_tritons_default_max_batch_size() {
    let src = fixtures().join("model_repository_batched");
    let repo = copy_of(&src);
    let original = written(&repo.path, "yolov8");
    assert_eq!(original.max_batch_size, 4);
    std::fs::write(repo.config("yolov8"), "platform: \"onnxruntime_onnx\"\n").unwrap();
    let (config, warnings) = completed(&repo.path, "yolov8");
    // Triton's default-max-batch-size, 4, the batch dim left out of the dims, and Triton's warning.
    same_io(&config, &original);
    assert_eq!(config.inputs[0].dims, [3, 640, 640]);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("autofilled max_batch_size to 4 for model 'yolov8' since batching is supported")),
        "{warnings:?}"
    );
    // A model whose dims are fixed cannot batch: a max_batch_size without inputs or outputs is Triton's error.
    std::fs::write(repo.config("efficientnet_v2"), "platform: \"onnxruntime_onnx\"\nmax_batch_size: 2\n").unwrap();
    std::fs::write(repo.config("preprocessing"), "platform: \"onnxruntime_onnx\"\nmax_batch_size: 2\n").unwrap();
    let inspect = inspector();
    let reports =
        Repository::check(&repo.path, &LoadOptions::default().strict_model_config(false), Some(&inspect)).unwrap();
    let e = reports.iter().find(|r| r.name == "preprocessing").unwrap().error.as_ref().unwrap().to_string();
    assert!(
        e.contains("autofill failed for model 'preprocessing': model does not support batching while non-zero max_batch_size is specified"),
        "{e}"
    );
}

#[test]
fn a_config_with_inputs_and_outputs_is_left_as_written() {
    // The backend completes nothing when both are given, even a missing max_batch_size.
    let src = fixtures().join("model_repository_batched");
    let repo = copy_of(&src);
    repo.edit("yolov8", "max_batch_size: 4", "max_batch_size: 0");
    let inspect = inspector();
    let reports =
        Repository::check(&repo.path, &LoadOptions::default().strict_model_config(false), Some(&inspect)).unwrap();
    let r = reports.iter().find(|r| r.name == "yolov8").unwrap();
    assert_eq!(r.config.as_ref().unwrap().max_batch_size, 0);
    // ... so the strict comparison with the file applies, as in Triton.
    let e = r.error.as_ref().unwrap().to_string();
    assert!(
        e.contains(
            "the model expects 4 dimensions (shape [-1,3,640,640]) but the model configuration specifies 3 dimensions"
        ),
        "{e}"
    );
}
