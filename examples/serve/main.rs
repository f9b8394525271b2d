//! An HTTP server for the pipeline that speaks the KServe v2 Open Inference Protocol (what Triton's HTTP
//! endpoint speaks), so existing clients such as `tritonclient[http]` work unchanged, plus a convenience
//! route that takes an encoded image and answers the typed result as JSON.
//!
//! ```text
//! cargo run --example serve -- [--model-repository DIR] [--host 127.0.0.1] [--http-port 8000]
//!     [--max-body-bytes N] [--timeout-ms N] [--max-concurrency N] [--token-file FILE]
//!     [--stage-mode auto|model|native] [--intra-threads N] [--load-model NAME]...
//! ```
//!
//! `serve --help` lists every flag (`--repository` and `--port` are aliases of Triton's names).
//!
//! Routes (see `examples/README.md` for the details and the choices):
//! `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2`, `GET /v2/models/{name}[/versions/{v}]`,
//! `GET /v2/models/{name}[/versions/{v}]/ready`, `POST /v2/models/{name}[/versions/{v}]/infer`,
//! `POST /v2/repository/index`, `POST /v1/clo/infer` (JPEG/PNG body → `Inference` JSON), `GET /metrics`.
//!
//! Layout: this file holds the flags and the startup only. `state.rs` is the state every route shares
//! (`App`: the pipeline, the models, limits, token, metrics) with the body and concurrency-slot helpers;
//! `http.rs` the HTTP routes and their guard (another module's routes join its `router` with one `.merge`
//! line); `v2.rs` the KServe v2 request and response bodies; `tensors.rs` their tensor data; `metrics.rs`
//! the Prometheus text. A feature of its own gets a file of its own here (its flags in `Args` below, its
//! state in `App`, its routes merged in `http::router`).

#[path = "../support/mod.rs"]
mod support;

mod http;
mod metrics;
mod state;
mod tensors;
mod v2;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clo_pipeline::{InputConvention, Pipeline, StageMode};
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::state::{App, model_infos};

/// The CLO pipeline behind the KServe v2 / Triton HTTP protocol, plus an image route and Prometheus metrics.
#[derive(clap::Parser, Debug)]
#[command(
    name = "serve",
    args_override_self = true,
    version,
    after_help = "On startup it prints `serve: listening on http://ADDR:PORT` once the models are loaded. Flags \
take Triton's names where Triton has one; the older names stay as aliases.\n\nEnvironment: CLO_SERVE_TOKEN (the \
bearer token when --token-file is not given), ORT_DYLIB_PATH (ONNX Runtime), RUST_LOG (log filter, default warn)."
)]
struct Args {
    /// The Triton model repository.
    #[arg(long, value_name = "DIR", default_value = "tests/fixtures/model_repository", visible_alias = "repository")]
    model_repository: PathBuf,
    /// Address to bind (0.0.0.0 in a container).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    host: String,
    /// HTTP port (Triton's default 8000; 0 picks a free one).
    #[arg(long, value_name = "N", default_value_t = 8000, visible_alias = "port")]
    http_port: u16,
    /// Largest request body: the 3840x2160 FP32 frame is 99.5 MB as binary tensor data and ~180-400 MB as
    /// JSON text.
    #[arg(long, value_name = "N", default_value_t = 256 << 20)]
    max_body_bytes: usize,
    /// Time to receive a body (408 after it), and to run an inference (504 after it), in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 60_000)]
    timeout_ms: u64,
    /// Inferences at once; one more is answered 503 (default: the number of CPUs).
    #[arg(long, value_name = "N", default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()),
          value_parser = positive)]
    max_concurrency: usize,
    /// Require `Authorization: Bearer <token>`, the token read from FILE (else from CLO_SERVE_TOKEN when set);
    /// /v2/health/* stays open for probes.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// auto, model or native for /v1/clo/infer (v2 ensemble infer always runs the repository's models).
    #[arg(long, value_name = "MODE", default_value_t = StageMode::Auto)]
    stage_mode: StageMode,
    /// What the ensemble input holds for this deployment's clients, used where /v1/clo/infer builds it from
    /// an image: `auto` (settled from the repository's models), `rgb`, `rgb/255`, `bgr`, `bgr/255`, or
    /// `rgb*SCALE+OFFSET`.
    #[arg(long, value_name = "ENCODING", default_value_t = InputConvention::Auto)]
    input_encoding: InputConvention,
    /// ONNX Runtime threads per operator (0 = one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    intra_threads: usize,
    /// Load only NAME and what its ensemble needs (repeatable), as Triton's
    /// `--model-control-mode=explicit --load-model=NAME`; default: every model.
    #[arg(long, value_name = "NAME")]
    load_model: Vec<String>,
}

fn positive(v: &str) -> Result<usize, String> {
    v.parse::<usize>().ok().filter(|&n| n > 0).ok_or(format!("takes a positive integer, not {v:?}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    eprintln!("serve: shutting down; in-flight requests finish first");
}

fn token(args: &Args) -> Result<Option<String>, String> {
    let raw = match &args.token_file {
        Some(f) => Some(std::fs::read_to_string(f).map_err(|e| format!("--token-file {}: {e}", f.display()))?),
        None => std::env::var("CLO_SERVE_TOKEN").ok(),
    };
    match raw.map(|t| t.trim().to_string()) {
        Some(t) if t.is_empty() => Err("the bearer token (--token-file or CLO_SERVE_TOKEN) is empty".to_string()),
        other => Ok(other),
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let token = token(&args)?;
    let repository = args.model_repository.clone();
    let (mode, threads, load) = (args.stage_mode, args.intra_threads, args.load_model.clone());
    let input = args.input_encoding;
    let pipeline = tokio::task::spawn_blocking(move || {
        let builder = Pipeline::builder(repository).stage_mode(mode).intra_threads(threads).input_convention(input);
        if load.is_empty() { builder.build() } else { builder.load_models(load).build() }
    })
    .await??;
    eprintln!("serve: pipeline:\n  {}", support::indent(&pipeline.report().to_string(), "  "));
    let models = model_infos(&pipeline);
    let app = Arc::new(App {
        pipeline,
        models,
        slots: Arc::new(Semaphore::new(args.max_concurrency)),
        max_concurrency: args.max_concurrency,
        max_body_bytes: args.max_body_bytes,
        timeout: Duration::from_millis(args.timeout_ms),
        token,
        metrics: Metrics::default(),
    });
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.http_port)).await?;
    let addr = listener.local_addr()?;
    println!(
        "serve: listening on http://{addr} (models: {}; max concurrency {}, max body {} bytes, timeout {} ms, token {})",
        app.served(),
        app.max_concurrency,
        app.max_body_bytes,
        app.timeout.as_millis(),
        if app.token.is_some() { "required" } else { "off" }
    );
    std::io::stdout().flush()?;
    axum::serve(listener, http::router(app)).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

fn main() -> ExitCode {
    support::init_tracing();
    let args = <Args as clap::Parser>::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serve: error: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: error: {e}");
            ExitCode::FAILURE
        }
    }
}
