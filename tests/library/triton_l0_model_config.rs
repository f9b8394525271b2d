//! Triton's own model-config tests (`qa/L0_model_config` of triton-inference-server/server), run against
//! `Repository::check` straight from a mirror of that repository, when one is present (`TRITON_SERVER_GIT`,
//! default `/work/.mirror/triton-inference-server+server/repo`). Ignored by default (CI has no mirror):
//! `cargo test --test library triton_l0_model_config:: -- --ignored --nocapture` prints a line per case and the counts.
//!
//! Each case is set up as Triton's `test.sh` sets it up (the `noautofill_platform` configs get
//! `platform: "onnxruntime_onnx"` appended and load with strict model config; the `autofill_noplatform*`
//! ones load without it; version folders are created; GPU 0 exists, as with `CUDA_VISIBLE_DEVICES=0`).
//! A failing case passes when one model's error contains one of the case's `expected*` messages, as
//! `test.sh` greps Triton's log; a succeeding case when every model loads and, where Triton's expected
//! config is given, the completed config has its platform, backend, `max_batch_size`, inputs and outputs.
//! Cases that need files the mirror does not hold (TensorRT plans, PyTorch and OpenVINO models, the Python
//! backend) or backends this crate does not model (backend libraries, `runtime`) are listed as skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clo_pipeline::repository::{LoadOptions, ModelConfig, ModelSignature, Repository};
use clo_pipeline::runtime::Runtime;

fn mirror() -> Option<String> {
    let git = std::env::var("TRITON_SERVER_GIT")
        .unwrap_or_else(|_| "/work/.mirror/triton-inference-server+server/repo".to_string());
    Path::new(&git).exists().then_some(git)
}

/// `qa/L0_model_config` of the mirror, extracted into a fresh temporary folder.
fn extract(git: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clo-l0-model-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let archive =
        Command::new("git").args(["--git-dir", git, "archive", "HEAD", "qa/L0_model_config"]).output().unwrap();
    assert!(archive.status.success());
    let mut tar =
        Command::new("tar").arg("-x").arg("-C").arg(&dir).stdin(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    tar.stdin.take().unwrap().write_all(&archive.stdout).unwrap();
    assert!(tar.wait().unwrap().success());
    dir.join("qa/L0_model_config")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// `expected*` files of a folder, unescaped (they are grep patterns).
fn expected(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("expected") && e.path().is_file())
        .map(|e| std::fs::read_to_string(e.path()).unwrap().trim().replace("\\[", "[").replace("\\]", "]"))
        .collect();
    out.sort();
    out
}

/// Every model folder in `repo` gets a `1/` (test.sh does this for the cases that need one).
fn add_versions(repo: &Path) {
    for e in std::fs::read_dir(repo).unwrap().flatten() {
        if e.path().is_dir() && !e.path().join("1").exists() {
            std::fs::create_dir_all(e.path().join("1")).unwrap();
        }
    }
}

enum Outcome {
    Pass,
    Fail(String),
    Skip(&'static str),
}

type Inspect = Box<dyn Fn(&str, &Path) -> clo_pipeline::Result<ModelSignature>>;

struct Runner {
    inspect: Inspect,
}

impl Runner {
    fn check(&self, repo: &Path, strict: bool) -> Vec<clo_pipeline::repository::ModelCheck> {
        let options = LoadOptions::default().strict_model_config(strict).available_gpus([0]);
        Repository::check(repo, &options, Some(&*self.inspect)).unwrap()
    }

    fn expect_error(&self, repo: &Path, strict: bool, wanted: &[String]) -> Outcome {
        let reports = self.check(repo, strict);
        let errors: Vec<String> = reports.iter().filter_map(|r| r.error.as_ref().map(|e| e.to_string())).collect();
        if errors.iter().any(|e| wanted.iter().any(|w| e.contains(w.as_str()))) {
            Outcome::Pass
        } else {
            Outcome::Fail(format!("wanted one of {wanted:?}\n      got {errors:?}"))
        }
    }

    fn expect_success(&self, repo: &Path, expected_dir: &Path, model: &str) -> Outcome {
        let reports = self.check(repo, false);
        let errors: Vec<String> =
            reports.iter().filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.name))).collect();
        if !errors.is_empty() {
            return Outcome::Fail(format!("wanted success, got {errors:?}"));
        }
        let Some(got) = reports.iter().find(|r| r.name == model).and_then(|r| r.config.clone()) else {
            return Outcome::Pass;
        };
        let files: Vec<PathBuf> = std::fs::read_dir(expected_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.file_name().unwrap().to_string_lossy().starts_with("expected"))
            .collect();
        if files.is_empty() {
            return Outcome::Pass;
        }
        let mut why = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let want = match ModelConfig::parse(&text, &f, model) {
                Ok(c) => c,
                Err(e) => return Outcome::Fail(format!("cannot read Triton's expected config: {e}")),
            };
            let set = |l: &[clo_pipeline::repository::TensorConfig]| -> BTreeSet<String> {
                l.iter().map(|t| format!("{} {} {:?} {:?}", t.name, t.data_type, t.dims, t.reshape)).collect()
            };
            let same = got.platform == want.platform
                && got.backend == want.backend
                && got.max_batch_size == want.max_batch_size
                && set(&got.inputs) == set(&want.inputs)
                && set(&got.outputs) == set(&want.outputs);
            if same {
                return Outcome::Pass;
            }
            why.push(format!(
                "{}: want {} {} mbs {} {:?} {:?}",
                f.display(),
                want.platform,
                want.backend,
                want.max_batch_size,
                set(&want.inputs),
                set(&want.outputs)
            ));
        }
        Outcome::Fail(format!(
            "got {} {} mbs {} {:?} {:?}; {}",
            got.platform,
            got.backend,
            got.max_batch_size,
            set_of(&got.inputs),
            set_of(&got.outputs),
            why.join("; ")
        ))
    }
}

fn set_of(l: &[clo_pipeline::repository::TensorConfig]) -> BTreeSet<String> {
    l.iter().map(|t| format!("{} {} {:?} {:?}", t.name, t.data_type, t.dims, t.reshape)).collect()
}

/// Backends whose model files or libraries the mirror does not hold, or that this crate does not model.
fn unsupported(kind: &str) -> Option<&'static str> {
    match kind {
        "tensorrt" => Some("TensorRT plans come from Triton's test data"),
        "pytorch" => Some("PyTorch models come from Triton's test data"),
        "openvino" => Some("OpenVINO models come from Triton's test data"),
        "python" => Some("the Python backend auto-completes from model.py"),
        _ => None,
    }
}

#[test]
#[ignore = "reads a mirror of triton-inference-server/server"]
fn tritons_model_config_cases() {
    let Some(git) = mirror() else {
        eprintln!("skipped: no mirror of triton-inference-server/server");
        return;
    };
    let l0 = extract(&git);
    let rt = Runtime::load(None).unwrap();
    let runner = Runner { inspect: Box::new(move |m: &str, f: &Path| rt.signature(m, f)) };
    let work = l0.parent().unwrap().join("work");
    let mut results: Vec<(String, Outcome)> = Vec::new();
    let fresh = |name: &str| {
        let d = work.join(name.replace('/', "."));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let dirs = |p: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> =
            std::fs::read_dir(p).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        v.sort();
        v
    };

    // noautofill_platform: the onnxruntime_onnx trial, strict.
    for case in dirs(&l0.join("noautofill_platform")) {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let repo = fresh(&format!("noautofill_platform/{name}"));
        copy_dir(&case, &repo.join(&name));
        let config = repo.join(&name).join("config.pbtxt");
        if config.exists() {
            let text = std::fs::read_to_string(&config).unwrap();
            let kept: Vec<&str> = text.lines().filter(|l| !l.contains("platform:")).collect();
            std::fs::write(&config, format!("{}\nplatform: \"onnxruntime_onnx\"\n", kept.join("\n"))).unwrap();
        }
        add_versions(&repo);
        let wanted = expected(&case);
        results.push((format!("noautofill_platform/{name}"), runner.expect_error(&repo, true, &wanted)));
    }

    // autofill_noplatform: failures without strict model config.
    for kind_dir in dirs(&l0.join("autofill_noplatform")) {
        let kind = kind_dir.file_name().unwrap().to_string_lossy().to_string();
        for case in dirs(&kind_dir) {
            let name = case.file_name().unwrap().to_string_lossy().to_string();
            let label = format!("autofill_noplatform/{kind}/{name}");
            if let Some(why) = unsupported(&kind) {
                results.push((label, Outcome::Skip(why)));
                continue;
            }
            let repo = fresh(&label);
            let single = case.join("config.pbtxt").exists();
            if single {
                copy_dir(&case, &repo.join(&name));
            } else {
                copy_dir(&case, &repo);
            }
            if kind == "ensemble" || kind == "custom" {
                add_versions(&repo);
            }
            if name == "unknown_backend.unknown" {
                results.push((label, Outcome::Skip("checks Triton's backend library lookup")));
                continue;
            }
            let wanted = expected(&case);
            results.push((label, runner.expect_error(&repo, false, &wanted)));
        }
    }

    // autofill_noplatform_success: loads, and the completed config is Triton's.
    for kind_dir in dirs(&l0.join("autofill_noplatform_success")) {
        let kind = kind_dir.file_name().unwrap().to_string_lossy().to_string();
        for case in dirs(&kind_dir) {
            let name = case.file_name().unwrap().to_string_lossy().to_string();
            let label = format!("autofill_noplatform_success/{kind}/{name}");
            if let Some(why) = unsupported(&kind) {
                results.push((label, Outcome::Skip(why)));
                continue;
            }
            let repo = fresh(&label);
            let single = case.join("config.pbtxt").exists() || name.starts_with("no_config");
            if single {
                copy_dir(&case, &repo.join(&name));
            } else {
                copy_dir(&case, &repo);
            }
            add_versions(&repo);
            let has_model =
                kind != "onnx" || std::fs::read_dir(repo.join(&name).join("1")).map(|d| d.count() > 0).unwrap_or(false);
            if !has_model {
                results.push((label, Outcome::Skip("its ONNX model comes from Triton's test data")));
                continue;
            }
            // The expected configs sit in the model's folder either way.
            results.push((label, runner.expect_success(&repo, &repo.join(&name), &name)));
        }
    }

    // special_cases: invalid_platform (strict); the others need backend libraries.
    for case in dirs(&l0.join("special_cases")) {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let label = format!("special_cases/{name}");
        if name != "invalid_platform" {
            results.push((label, Outcome::Skip("checks Triton's backend library lookup (`runtime`)")));
            continue;
        }
        let repo = fresh(&label);
        copy_dir(&case, &repo.join(&name));
        add_versions(&repo);
        results.push((label, runner.expect_error(&repo, true, &expected(&case))));
    }

    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (label, outcome) in &results {
        match outcome {
            Outcome::Pass => {
                pass += 1;
                eprintln!("pass {label}");
            }
            Outcome::Fail(why) => {
                fail += 1;
                eprintln!("FAIL {label}\n      {why}");
            }
            Outcome::Skip(why) => {
                skip += 1;
                eprintln!("skip {label} ({why})");
            }
        }
    }
    eprintln!("qa/L0_model_config: {pass} pass, {fail} fail, {skip} skipped");
    let _ = std::fs::remove_dir_all(l0.parent().unwrap().parent().unwrap());
    assert_eq!(fail, 0, "see the FAIL lines above");
}
