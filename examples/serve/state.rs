//! The state every route shares ([`App`]): the pipeline and the models it serves, the limits, the token and
//! the metrics; and the two steps every inference route takes through it: receiving the body within the
//! limits ([`body`]) and running the work on the blocking pool in one of the concurrency slots
//! ([`run_blocking`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use clo_pipeline::Pipeline;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::v2::{ApiError, ModelInfo};

/// What the routes share.
pub struct App {
    pub pipeline: Pipeline,
    pub models: Vec<ModelInfo>,
    pub slots: Arc<Semaphore>,
    pub max_concurrency: usize,
    pub max_body_bytes: usize,
    pub timeout: Duration,
    pub token: Option<String>,
    pub metrics: Metrics,
}

/// The state as the routes hold it.
pub type Shared = Arc<App>;

impl App {
    pub fn model(&self, name: &str) -> Result<&ModelInfo, ApiError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("unknown model `{name}` (served: {})", self.served()))
        })
    }

    pub fn served(&self) -> String {
        self.models.iter().filter(|m| m.not_served.is_none()).map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// One of the `--max-concurrency` slots, or 503 at once: nothing queues beyond the limit.
    pub fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
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
pub fn model_infos(pipeline: &Pipeline) -> Vec<ModelInfo> {
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

pub fn too_large(app: &App) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than --max-body-bytes {}", app.max_body_bytes),
    )
}

/// Receives the whole body within the timeout (408 after it; 413 past --max-body-bytes).
pub async fn body(app: &App, req: Request) -> Result<(HeaderMap, Bytes), ApiError> {
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
pub async fn run_blocking<T: Send + 'static>(
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
pub fn pipeline_error(e: clo_pipeline::Error) -> ApiError {
    match e {
        clo_pipeline::Error::Tensor { .. } => ApiError::bad(e.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}
