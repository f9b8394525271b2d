//! The HTTP routes: the KServe v2 protocol (health, metadata, readiness, infer, Triton's repository index),
//! `POST /v1/clo/infer` and `GET /metrics`, behind one guard that checks the token and the declared body size
//! and counts every request. Another module's routes join in [`router`] (one `.merge(..)` line each).

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::state::{App, Shared, body, pipeline_error, run_blocking, too_large};
use crate::v2::{self, ApiError};

/// Every route, behind the guard.
pub fn router(app: Shared) -> Router {
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
