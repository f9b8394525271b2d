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

#[path = "../support/mod.rs"]
mod support;

mod metrics;
mod tensors;
mod v2;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clo_pipeline::{InputConvention, Pipeline, StageMode};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::v2::{ApiError, ModelInfo};

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

struct App {
    pipeline: Pipeline,
    models: Vec<ModelInfo>,
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    max_body_bytes: usize,
    timeout: Duration,
    token: Option<String>,
    metrics: Metrics,
}

type Shared = Arc<App>;

impl App {
    fn model(&self, name: &str) -> Result<&ModelInfo, ApiError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("unknown model `{name}` (served: {})", self.served()))
        })
    }
    fn served(&self) -> String {
        self.models.iter().filter(|m| m.not_served.is_none()).map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    }
    /// One of the `--max-concurrency` slots, or 503 at once: nothing queues beyond the limit.
    fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            self.metrics.rejected_full.fetch_add(1, Ordering::Relaxed);
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the server is running {} inferences, its limit; retry later", self.max_concurrency),
            )
        })
    }
}

/// The models as the repository declares them: the pipeline's ensemble is served; its steps get metadata.
fn model_infos(pipeline: &Pipeline) -> Vec<ModelInfo> {
    let ensemble = pipeline.ensemble();
    let plan = ensemble.plan();
    ensemble
        .repository()
        .models()
        .map(|m| ModelInfo {
            name: m.config.name.clone(),
            platform: if m.config.platform.is_empty() { m.config.backend.clone() } else { m.config.platform.clone() },
            versions: m.served_versions(),
            max_batch_size: m.config.max_batch_size,
            inputs: m.config.inputs.clone(),
            outputs: m.config.outputs.clone(),
            not_served: (m.config.name != plan.name).then(|| {
                format!(
                    "model `{}` is loaded as a step of ensemble `{}` and is not served individually; infer on `{}`",
                    m.config.name, plan.name, plan.name
                )
            }),
        })
        .collect()
}

/// Route label for metrics: a fixed set, so hostile paths cannot grow the label space.
fn route_label(path: &str) -> &'static str {
    let seg: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match seg.as_slice() {
        ["v2"] => "/v2",
        ["v2", "health", "live"] => "/v2/health/live",
        ["v2", "health", "ready"] => "/v2/health/ready",
        ["v2", "repository", "index"] => "/v2/repository/index",
        ["v2", "models", _] | ["v2", "models", _, "versions", _] => "/v2/models/{name}",
        ["v2", "models", _, "ready"] | ["v2", "models", _, "versions", _, "ready"] => "/v2/models/{name}/ready",
        ["v2", "models", _, "infer"] | ["v2", "models", _, "versions", _, "infer"] => "/v2/models/{name}/infer",
        ["v1", "clo", "infer"] => "/v1/clo/infer",
        ["metrics"] => "/metrics",
        _ => "other",
    }
}

/// Counts and times every request; checks the bearer token and the declared body size before any handler.
async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let route = route_label(req.uri().path());
    app.metrics.requests_in_flight.fetch_add(1, Ordering::Relaxed);
    let response = match check(&app, &req) {
        Err(e) => e.into_response(),
        Ok(()) => next.run(req).await,
    };
    app.metrics.requests_in_flight.fetch_sub(1, Ordering::Relaxed);
    app.metrics.request(route, response.status().as_u16(), t0.elapsed());
    response
}

fn check(app: &App, req: &Request) -> Result<(), ApiError> {
    if let Some(token) = &app.token
        && !req.uri().path().starts_with("/v2/health/")
    {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let ok = given.is_some_and(|g| {
            g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
        });
        if !ok {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                if given.is_some() { "wrong bearer token" } else { "missing `Authorization: Bearer <token>`" },
            ));
        }
    }
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > app.max_body_bytes as u64
    {
        return Err(too_large(app));
    }
    Ok(())
}

fn too_large(app: &App) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than --max-body-bytes {}", app.max_body_bytes),
    )
}

/// Receives the whole body within the timeout (408 after it; 413 past --max-body-bytes).
async fn body(app: &App, req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
    let headers = req.headers().clone();
    match tokio::time::timeout(app.timeout, Bytes::from_request(req, &())).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within --timeout-ms {}", app.timeout.as_millis()),
        )),
        Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large(app)),
        Ok(Err(rejection)) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        Ok(Ok(bytes)) => Ok((headers, bytes)),
    }
}

/// Runs `work` on the blocking pool while holding one slot, answering 504 if it outlasts the timeout (the
/// slot stays held until the work ends, so the limit stays true).
async fn run_blocking<T: Send + 'static>(
    app: &Shared,
    work: impl FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = app.slot()?;
    let app2 = app.clone();
    let task = tokio::task::spawn_blocking(move || {
        app2.metrics.inferences_in_flight.fetch_add(1, Ordering::Relaxed);
        let r = work(&app2);
        app2.metrics.inferences_in_flight.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        r
    });
    match tokio::time::timeout(app.timeout, task).await {
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the inference did not finish within --timeout-ms {}", app.timeout.as_millis()),
        )),
        Ok(Err(join)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the inference failed: {join}"))),
        Ok(Ok(r)) => r,
    }
}

/// The library's error as an HTTP status: a tensor that does not fit is the client's fault, the rest ours.
fn pipeline_error(e: clo_pipeline::Error) -> ApiError {
    match e {
        clo_pipeline::Error::Tensor { .. } => ApiError::bad(e.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "live": true }))
}

/// Ready once the models are loaded, which happens before the port is bound.
async fn ready() -> Json<serde_json::Value> {
    Json(json!({ "ready": true }))
}

async fn server_metadata() -> Json<serde_json::Value> {
    Json(json!({
        "name": "clo-pipeline",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "model_repository"],
    }))
}

async fn model_metadata(State(app): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(app.model(&name)?.metadata()).into_response())
}

async fn model_version_metadata(
    State(app): State<Shared>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let m = app.model(&name)?;
    m.version(Some(&version))?;
    Ok(Json(m.metadata()).into_response())
}

fn model_ready_check(app: &App, name: &str, version: Option<&str>) -> Result<Response, ApiError> {
    let m = app.model(name)?;
    m.version(version)?;
    match &m.not_served {
        Some(why) => Err(ApiError::bad(why.clone())),
        None => Ok(Json(json!({ "name": m.name, "ready": true })).into_response()),
    }
}

async fn model_ready(State(app): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    model_ready_check(&app, &name, None)
}

async fn model_version_ready(
    State(app): State<Shared>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    model_ready_check(&app, &name, Some(&version))
}

async fn repository_index(State(app): State<Shared>) -> Json<serde_json::Value> {
    let rows: Vec<_> = app
        .models
        .iter()
        .flat_map(|m| {
            m.versions.iter().map(move |v| match &m.not_served {
                None => json!({ "name": m.name, "version": v.to_string(), "state": "READY" }),
                Some(why) => json!({ "name": m.name, "version": v.to_string(), "state": "UNAVAILABLE", "reason": why }),
            })
        })
        .collect();
    Json(json!(rows))
}

async fn infer(State(app): State<Shared>, Path(name): Path<String>, req: Request) -> Result<Response, ApiError> {
    infer_version(&app, name, None, req).await
}

async fn infer_versioned(
    State(app): State<Shared>,
    Path((name, version)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ApiError> {
    infer_version(&app, name, Some(version), req).await
}

async fn infer_version(
    app: &Shared,
    name: String,
    version: Option<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let model = app.model(&name)?.clone();
    let version = model.version(version.as_deref())?;
    if let Some(why) = &model.not_served {
        return Err(ApiError::bad(why.clone()));
    }
    let (headers, bytes) = body(app, req).await?;
    run_blocking(app, move |app| {
        let parsed = v2::parse(&model, &headers, &bytes)?;
        drop(bytes);
        let t = Instant::now();
        let results = app.pipeline.run_ensemble(parsed.inputs).map_err(pipeline_error)?;
        app.metrics.stage("ensemble", t.elapsed());
        v2::respond(&model, version, parsed.id, &parsed.outputs, results)
    })
    .await
}

/// `POST /v1/clo/infer`: a JPEG or PNG body in, the typed `Inference` out as JSON (stage mode from the flag).
async fn clo_infer(State(app): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let (_, bytes) = body(&app, req).await?;
    run_blocking(&app, move |app| {
        // The library's decoder: the format from the content, its limits checked from the header.
        let img = clo_pipeline::decode_image_bytes(&bytes, &clo_pipeline::DecodeOptions::default())
            .map_err(|e| ApiError::bad(format!("the body is not a decodable JPEG/PNG: {e}")))?;
        let out = app.pipeline.infer(&img).map_err(pipeline_error)?;
        if let Some(d) = &out.degenerate {
            app.metrics.degenerate_frames.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("/v1/clo/infer: {d}");
        }
        let t = &out.timings;
        for (stage, d) in [
            ("preprocess", t.preprocess),
            ("detect", t.detect),
            ("postprocess", t.postprocess),
            ("estimate", t.estimate),
            ("total", t.total),
        ] {
            app.metrics.stage(stage, d);
        }
        let v =
            serde_json::to_value(&out).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(Json(v).into_response())
    })
    .await
}

async fn metrics_text(State(app): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))],
        app.metrics.render(app.max_concurrency),
    )
        .into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no route {} {}", req.method(), req.uri().path()))
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2", get(server_metadata))
        .route("/v2/repository/index", post(repository_index))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(model_version_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/versions/{version}/ready", get(model_version_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer_versioned))
        .route("/v1/clo/infer", post(clo_infer))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(app.max_body_bytes))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
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
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown_signal()).await?;
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
