//! `examples/check.rs` as a user runs it: built with `cargo build --example check`, run on good and bad
//! repositories; one line per model, `--json`, exit 1 on any error, `--help` on stdout, exit 2 on misuse.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::*;

/// The example's binary in this test's own target folder and profile (as tests/serve_common builds serve).
fn check_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().and_then(Path::parent).unwrap();
            let target_dir = profile_dir.parent().unwrap();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["build", "--example", "check"])
                .env("CARGO_TARGET_DIR", target_dir);
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cmd.arg("--release");
            }
            assert!(cmd.status().unwrap().success(), "cargo build --example check failed");
            let bin = profile_dir.join("examples").join(format!("check{}", std::env::consts::EXE_SUFFIX));
            assert!(bin.is_file(), "{} was not built", bin.display());
            bin
        })
        .clone()
}

fn run(args: &[&str], repo: &Path) -> Output {
    Command::new(check_binary()).args(args).arg(repo).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn a_good_repository_is_ok_line_by_line() {
    let o = run(&[], &repository());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines.contains(&"ensemble\tversions [1]\tensemble\tOK"), "{out}");
    assert!(lines.contains(&"yolov8\tversions [1]\tonnxruntime_onnx\tOK"), "{out}");

    let o = run(&["--json"], &fixtures().join("model_repository_batched"));
    assert_eq!(o.status.code(), Some(0));
    for line in stdout(&o).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["ok"], true, "{line}");
        assert_eq!(v["versions"], serde_json::json!([1]));
        assert!(v["error"].is_null());
        if v["model"] != "ensemble" {
            assert_eq!(v["files_checked"], true, "{line}");
        }
    }
}

#[test]
fn a_bad_repository_exits_1_with_each_models_error() {
    let repo = TempRepo::new();
    repo.edit("yolov8", "max_batch_size: 0", "max_batch_sise: 0");
    repo.edit("efficientnet_v2", "dims: [ 1, 1 ]", "dims: [ 1, 2 ]");
    let o = run(&["--json"], &repo.path);
    assert_eq!(o.status.code(), Some(1));
    let by_model: std::collections::HashMap<String, serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["model"].as_str().unwrap().to_string(), v))
        .collect();
    assert_eq!(by_model.len(), 5);
    let err = |m: &str| by_model[m]["error"].as_str().unwrap_or_default().to_string();
    assert!(err("yolov8").contains("yolov8/config.pbtxt:4:1: Message type \"inference.ModelConfig\" has no field named \"max_batch_sise\"; did you mean \"max_batch_size\"?"), "{}", err("yolov8"));
    assert!(err("efficientnet_v2").contains("model 'efficientnet_v2', tensor 'estimated_oil_pct': the model expects 2 dimensions (shape [1,1]) but the model configuration specifies 2 dimensions (shape [1,2])"), "{}", err("efficientnet_v2"));
    assert!(
        err("ensemble")
            .contains("ensemble 'ensemble' depends on 'yolov8' which is not valid. Model 'yolov8' failed with error:"),
        "{}",
        err("ensemble")
    );
    assert_eq!(by_model["preprocessing"]["ok"], true);
    // The text form: the same verdicts, one line each.
    let o = run(&[], &repo.path);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.lines().any(|l| l.starts_with("yolov8\tversions []\t-\tERROR ")), "{out}");
    assert!(out.lines().any(|l| l == "preprocessing\tversions [1]\tonnxruntime_onnx\tOK"), "{out}");
    // Configs only: the ONNX mismatch is not seen, the schema error is.
    let o = run(&["--config-only"], &repo.path);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.lines().any(|l| l.starts_with("efficientnet_v2\tversions [1]\tonnxruntime_onnx\tOK")), "{out}");
    // Explicit mode: only what is named, and what its ensembles run.
    let o = run(&["--load-model", "preprocessing"], &repo.path);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 1);
}

#[test]
fn strict_model_config_false_completes_configs() {
    let repo = TempRepo::new();
    std::fs::remove_file(repo.config("efficientnet_v2")).unwrap();
    let o = run(&[], &repo.path);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("contains models that are not available or ambiguous: efficientnet_v2"));
    let o = run(&["--strict-model-config=false"], &repo.path);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).lines().any(|l| l == "efficientnet_v2\tversions [1]\tonnxruntime_onnx\tOK"));
}

#[test]
fn gpu_ids_of_the_target_machine() {
    let repo = TempRepo::new();
    repo.edit("yolov8", "max_batch_size: 0", "max_batch_size: 0\ninstance_group [ { kind: KIND_GPU gpus: [ 1 ] } ]");
    assert_eq!(run(&["--config-only"], &repo.path).status.code(), Some(0));
    assert_eq!(run(&["--config-only", "--gpus", "0,1"], &repo.path).status.code(), Some(0));
    let o = run(&["--config-only", "--gpus", "0"], &repo.path);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("instance group yolov8_0 of model yolov8 specifies invalid or unsupported gpu id 1"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn help_and_misuse() {
    let o = Command::new(check_binary()).arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    assert!(help.contains("Usage: check [OPTIONS] <REPOSITORY>"), "{help}");
    assert!(help.contains("--strict-model-config"), "{help}");
    for bad in [&["--bogus", "x"][..], &[][..], &["--gpus", "zero", "x"][..]] {
        let o = Command::new(check_binary()).args(bad).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    // A repository that is not there is an error of its own.
    let o = run(&[], Path::new("/nonexistent/repository"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/repository"));
}
