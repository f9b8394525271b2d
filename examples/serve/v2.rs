//! The KServe v2 Open Inference Protocol over the model repository: metadata, readiness and inference (JSON
//! tensors and the binary tensor data extension), plus Triton's repository index.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clo_pipeline::Tensor;
use clo_pipeline::repository::{DataType, TensorConfig};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::tensors::{self, Source};

/// The binary tensor data extension's header: how many leading body bytes are the JSON part.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// An error answered as the v2 protocol's `{"error": "..."}` body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// What the server knows of one model of the repository.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub name: String,
    pub platform: String,
    pub versions: Vec<i64>,
    pub max_batch_size: i64,
    pub inputs: Vec<TensorConfig>,
    pub outputs: Vec<TensorConfig>,
    /// `None` for the served ensemble; for its step models, why infer on them is refused.
    pub not_served: Option<String>,
}

impl ModelInfo {
    pub fn metadata(&self) -> Value {
        let t = |c: &TensorConfig| json!({ "name": c.name, "datatype": c.data_type.kserve_name(), "shape": c.client_shape(self.max_batch_size) });
        json!({
            "name": self.name,
            "versions": self.versions.iter().map(i64::to_string).collect::<Vec<_>>(),
            "platform": self.platform,
            "inputs": self.inputs.iter().map(t).collect::<Vec<_>>(),
            "outputs": self.outputs.iter().map(t).collect::<Vec<_>>(),
        })
    }

    /// The version a request names (or the latest when it names none).
    pub fn version(&self, asked: Option<&str>) -> Result<i64, ApiError> {
        match asked {
            None | Some("") => self.versions.last().copied().ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, format!("model `{}` has no served version", self.name))
            }),
            Some(v) => v.parse::<i64>().ok().filter(|v| self.versions.contains(v)).ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("model `{}` has no version `{v}` (served: {:?})", self.name, self.versions),
                )
            }),
        }
    }
}

#[derive(Deserialize)]
struct InferRequest<'a> {
    #[serde(default)]
    id: Option<String>,
    #[serde(borrow)]
    inputs: Vec<InputTensor<'a>>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct InputTensor<'a> {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

fn flag(p: &Option<Map<String, Value>>, key: &str) -> bool {
    p.as_ref().and_then(|m| m.get(key)).and_then(Value::as_bool).unwrap_or(false)
}

/// A parsed, checked inference request: the input tensors and which outputs to return, how.
pub struct Parsed {
    pub id: Option<String>,
    pub inputs: Vec<(String, Tensor)>,
    /// `(name, binary)` in the order to answer them.
    pub outputs: Vec<(String, bool)>,
}

/// Parses an infer request body for `model`, checking names, datatypes and shapes against its config.
pub fn parse(model: &ModelInfo, headers: &HeaderMap, body: &[u8]) -> Result<Parsed, ApiError> {
    if let Some(enc) = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok())
        && enc != "identity"
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding `{enc}` is not supported"),
        ));
    }
    let (json_part, mut binary) = match headers.get(HEADER_LENGTH) {
        Some(v) => {
            let n = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| ApiError::bad("Inference-Header-Content-Length is not a number"))?;
            if n > body.len() {
                return Err(ApiError::bad(format!(
                    "Inference-Header-Content-Length is {n} but the body has {} bytes",
                    body.len()
                )));
            }
            body.split_at(n)
        }
        None => (body, &[][..]),
    };
    let req: InferRequest =
        serde_json::from_slice(json_part).map_err(|e| ApiError::bad(format!("the request is not valid JSON: {e}")))?;
    let mut inputs = Vec::with_capacity(req.inputs.len());
    for input in &req.inputs {
        let want = model.inputs.iter().find(|c| c.name == input.name).ok_or_else(|| {
            ApiError::bad(format!(
                "model `{}` has no input `{}` (inputs: {:?})",
                model.name,
                input.name,
                model.inputs.iter().map(|c| &c.name).collect::<Vec<_>>()
            ))
        })?;
        if inputs.iter().any(|(n, _)| n == &input.name) {
            return Err(ApiError::bad(format!("input `{}` is given twice", input.name)));
        }
        let dt = DataType::from_kserve(&input.datatype);
        if dt != Some(want.data_type) {
            return Err(ApiError::bad(format!(
                "input `{}`: datatype {} given, the model takes {}",
                input.name,
                input.datatype,
                want.data_type.kserve_name()
            )));
        }
        let expected = want.client_shape(model.max_batch_size);
        let shape_ok = input.shape.len() == expected.len()
            && input.shape.iter().zip(&expected).all(|(&g, &e)| g >= 0 && (e < 0 || g == e));
        if !shape_ok {
            return Err(ApiError::bad(format!(
                "input `{}`: shape {:?} given, the model takes {expected:?}",
                input.name, input.shape
            )));
        }
        let shape: Vec<usize> = input.shape.iter().map(|&d| d as usize).collect();
        let binary_size = input.parameters.as_ref().and_then(|p| p.get("binary_data_size"));
        let source = match (binary_size, input.data) {
            (Some(size), None) => {
                let size = size
                    .as_u64()
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| ApiError::bad(format!("input `{}`: binary_data_size is not a size", input.name)))?;
                if size > binary.len() {
                    return Err(ApiError::bad(format!(
                        "input `{}`: binary_data_size {size} but only {} binary bytes are left",
                        input.name,
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                Source::Binary(mine)
            }
            (None, Some(data)) => Source::Json(data.get()),
            (Some(_), Some(_)) => {
                return Err(ApiError::bad(format!("input `{}` has both data and binary_data_size", input.name)));
            }
            (None, None) => return Err(ApiError::bad(format!("input `{}` has no data", input.name))),
        };
        let tensor = tensors::to_tensor(want.data_type, &shape, &source)
            .map_err(|e| ApiError::bad(format!("input `{}`: {e}", input.name)))?;
        inputs.push((input.name.clone(), tensor));
    }
    if !binary.is_empty() {
        return Err(ApiError::bad(format!("{} binary bytes are not claimed by any input", binary.len())));
    }
    if let Some(missing) = model.inputs.iter().find(|c| !inputs.iter().any(|(n, _)| n == &c.name)) {
        return Err(ApiError::bad(format!("input `{}` is missing", missing.name)));
    }
    let all_binary = flag(&req.parameters, "binary_data_output");
    let outputs = match &req.outputs {
        None => model.outputs.iter().map(|c| (c.name.clone(), all_binary)).collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for o in list {
                if !model.outputs.iter().any(|c| c.name == o.name) {
                    return Err(ApiError::bad(format!(
                        "model `{}` has no output `{}` (outputs: {:?})",
                        model.name,
                        o.name,
                        model.outputs.iter().map(|c| &c.name).collect::<Vec<_>>()
                    )));
                }
                out.push((o.name.clone(), all_binary || flag(&o.parameters, "binary_data")));
            }
            out
        }
    };
    Ok(Parsed { id: req.id, inputs, outputs })
}

/// The infer response: JSON alone, or JSON then the binary outputs with `Inference-Header-Content-Length`.
pub fn respond(
    model: &ModelInfo,
    version: i64,
    id: Option<String>,
    wanted: &[(String, bool)],
    mut results: HashMap<String, Tensor>,
) -> Result<Response, ApiError> {
    let mut outputs = Vec::with_capacity(wanted.len());
    let mut binary = Vec::new();
    for (name, as_binary) in wanted {
        let t = results.remove(name).ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the ensemble gave no `{name}`"))
        })?;
        let mut o = json!({ "name": name, "datatype": t.data_type().kserve_name(), "shape": t.shape() });
        if *as_binary {
            let bytes = tensors::to_bytes(&t);
            o["parameters"] = json!({ "binary_data_size": bytes.len() });
            binary.extend_from_slice(&bytes);
        } else {
            o["data"] = tensors::to_json(&t);
        }
        outputs.push(o);
    }
    let mut head = json!({ "model_name": model.name, "model_version": version.to_string(), "outputs": outputs });
    if let Some(id) = id {
        head["id"] = Value::String(id);
    }
    let head =
        serde_json::to_vec(&head).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if binary.is_empty() && !wanted.iter().any(|(_, b)| *b) {
        return Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], head).into_response());
    }
    let len = head.len();
    let mut body = head;
    body.extend_from_slice(&binary);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
            (header::HeaderName::from_static(HEADER_LENGTH), HeaderValue::from(len)),
        ],
        body,
    )
        .into_response())
}
