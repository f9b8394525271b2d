//! Checks a Triton model repository as Triton would load it, without running anything: every model's
//! `config.pbtxt` against Triton's schema and load-time rules, every served version of an ONNX model against
//! its file (through ONNX Runtime, as Triton's backend compares them), every ensemble against its steps.
//! One line per model: name, served versions, platform, `OK` or the error (Triton's message). Exit status 1
//! when any model fails, 2 on a usage error.
//!
//! ```sh
//! cargo run --example check -- tests/fixtures/model_repository
//! cargo run --example check -- --json --strict-model-config=false --gpus 0,1 /models
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use clo_pipeline::repository::{Inspector, LoadOptions, ModelSignature, Repository};
use clo_pipeline::runtime::Runtime;

#[path = "support/mod.rs"]
mod support;

/// Checks a Triton model repository as Triton would load it (nothing is run).
#[derive(Parser, Debug)]
#[command(name = "check", version)]
struct Args {
    /// The model repository (Triton's layout: <repo>/<model>/config.pbtxt, <repo>/<model>/<version>/...).
    repository: PathBuf,

    /// One JSON object per model and line: model, versions, platform, ok, error, warnings, files_checked.
    #[arg(long)]
    json: bool,

    /// Triton's --strict-model-config: with false, missing configs and configs without inputs or outputs
    /// are completed from the ONNX files, as Triton does.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    strict_model_config: bool,

    /// Check only these models and what their ensembles run (Triton's --load-model; repeatable).
    #[arg(long = "load-model", value_name = "NAME")]
    load_models: Vec<String>,

    /// The GPU ids of the machine Triton will run on, for the instance-group checks ("0,1", or "none").
    /// Default: unknown, so only the checks that hold on every machine run.
    #[arg(long, value_name = "IDS", value_parser = parse_gpus)]
    gpus: Option<Gpus>,

    /// Check configs only: do not open the ONNX files (no ONNX Runtime needed; no auto-completion).
    #[arg(long)]
    config_only: bool,

    /// The libonnxruntime.so to load (default: the crate's search, see the README).
    #[arg(long, value_name = "PATH")]
    library_path: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct Gpus(Vec<i32>);

fn parse_gpus(s: &str) -> Result<Gpus, String> {
    if s == "none" {
        return Ok(Gpus(Vec::new()));
    }
    s.split(',').map(|g| g.trim().parse::<i32>().map_err(|e| format!("`{g}`: {e}"))).collect::<Result<_, _>>().map(Gpus)
}

fn main() -> ExitCode {
    support::init_tracing();
    let args = Args::parse();
    let mut options = LoadOptions::default().strict_model_config(args.strict_model_config);
    if !args.load_models.is_empty() {
        options.load_models = Some(args.load_models.clone());
    }
    if let Some(Gpus(ids)) = &args.gpus {
        options = options.available_gpus(ids.iter().copied());
    }
    let runtime = if args.config_only {
        None
    } else {
        match Runtime::load(args.library_path.as_deref()) {
            Ok(rt) => Some(rt),
            Err(e) => {
                eprintln!("check: {e}\n(use --config-only to check the configs without ONNX Runtime)");
                return ExitCode::from(1);
            }
        }
    };
    let signature =
        |rt: &Runtime, model: &str, file: &Path| -> clo_pipeline::Result<ModelSignature> { rt.signature(model, file) };
    let inspect = runtime.as_ref().map(|rt| move |model: &str, file: &Path| signature(rt, model, file));
    let inspector: Option<Inspector<'_>> = inspect.as_ref().map(|f| f as Inspector<'_>);
    let reports = match Repository::check(&args.repository, &options, inspector) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("check: {e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = 0;
    for r in &reports {
        if r.error.is_some() {
            failed += 1;
        }
        if args.json {
            let line = serde_json::json!({
                "model": r.name,
                "versions": r.versions,
                "platform": r.platform,
                "ok": r.error.is_none(),
                "error": r.error.as_ref().map(ToString::to_string),
                "warnings": r.warnings,
                "files_checked": r.files_checked,
            });
            println!("{line}");
        } else {
            let versions: Vec<String> = r.versions.iter().map(i64::to_string).collect();
            let platform = if r.platform.is_empty() { "-" } else { r.platform.as_str() };
            let verdict = match &r.error {
                None if r.files_checked || r.platform == "ensemble" || args.config_only => "OK".to_string(),
                None => "OK (config only: clo-pipeline checks model files of ONNX models)".to_string(),
                Some(e) => format!("ERROR {e}"),
            };
            println!("{}\tversions [{}]\t{platform}\t{verdict}", r.name, versions.join(","));
            for w in &r.warnings {
                println!("{}\twarning: {w}", r.name);
            }
        }
    }
    if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
