//! The typed model configuration read from a parsed `config.pbtxt`.
//!
//! Only the fields this crate uses are read: `name`, `platform`, `backend`, `max_batch_size`, `input`,
//! `output`, `version_policy`, `default_model_filename` and `ensemble_scheduling`. Every other field
//! (`instance_group`, `dynamic_batching`, `optimization`, `parameters`, `model_warmup`, ...) is accepted
//! and ignored with a `tracing::debug!` event that names the field and the file.
//!
//! The checks follow Triton's (`model_config_utils.cc`): a tensor needs a `name`, a `data_type` and at
//! least one dim; dims are `>= 1` or `-1`; `max_batch_size >= 0`; the `name`, when given, equals the model
//! folder's name. A singular field given twice is an error, as in protobuf. Errors are
//! [`Error::Config`] whose message names the field and its `line:col`.

use std::fmt;
use std::path::Path;

use super::pbtxt::{self, Field, Message, Value};
use crate::error::{ConfigErrorKind, Error, Result};

/// The element type of a tensor, as Triton names it (`TYPE_FP32`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataType {
    /// `TYPE_BOOL`, one byte per element.
    Bool,
    /// `TYPE_UINT8`.
    Uint8,
    /// `TYPE_UINT16`.
    Uint16,
    /// `TYPE_UINT32`.
    Uint32,
    /// `TYPE_UINT64`.
    Uint64,
    /// `TYPE_INT8`.
    Int8,
    /// `TYPE_INT16`.
    Int16,
    /// `TYPE_INT32`.
    Int32,
    /// `TYPE_INT64`.
    Int64,
    /// `TYPE_FP16`.
    Fp16,
    /// `TYPE_FP32`.
    Fp32,
    /// `TYPE_FP64`.
    Fp64,
    /// `TYPE_BF16`.
    Bf16,
    /// `TYPE_STRING` (KServe's `BYTES`): variable-size elements.
    String,
}

impl DataType {
    /// Every data type, in Triton's enum order.
    pub const ALL: [DataType; 14] = [
        DataType::Bool,
        DataType::Uint8,
        DataType::Uint16,
        DataType::Uint32,
        DataType::Uint64,
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::Fp16,
        DataType::Fp32,
        DataType::Fp64,
        DataType::String,
        DataType::Bf16,
    ];

    /// From Triton's enum name (`"TYPE_FP32"`); `None` for anything else, `TYPE_INVALID` included.
    pub fn from_triton(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_triton() == name)
    }

    /// From Triton's enum number (`TYPE_FP32 = 11`), which the text format also accepts.
    pub fn from_triton_number(n: i64) -> Option<Self> {
        let i = usize::try_from(n.checked_sub(1)?).ok()?;
        Self::ALL.get(i).copied()
    }

    /// From KServe's v2 protocol name (`"FP32"`, `"BYTES"`).
    pub fn from_kserve(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.kserve_name() == name)
    }

    /// Triton's enum name: `"TYPE_FP32"`.
    pub fn as_triton(self) -> &'static str {
        match self {
            DataType::Bool => "TYPE_BOOL",
            DataType::Uint8 => "TYPE_UINT8",
            DataType::Uint16 => "TYPE_UINT16",
            DataType::Uint32 => "TYPE_UINT32",
            DataType::Uint64 => "TYPE_UINT64",
            DataType::Int8 => "TYPE_INT8",
            DataType::Int16 => "TYPE_INT16",
            DataType::Int32 => "TYPE_INT32",
            DataType::Int64 => "TYPE_INT64",
            DataType::Fp16 => "TYPE_FP16",
            DataType::Fp32 => "TYPE_FP32",
            DataType::Fp64 => "TYPE_FP64",
            DataType::Bf16 => "TYPE_BF16",
            DataType::String => "TYPE_STRING",
        }
    }

    /// KServe's v2 protocol name: `"FP32"`, `"UINT8"`, `"BYTES"` for [`DataType::String`].
    pub fn kserve_name(self) -> &'static str {
        match self {
            DataType::String => "BYTES",
            other => other.as_triton().trim_start_matches("TYPE_"),
        }
    }

    /// Bytes per element; `None` for [`DataType::String`], whose elements vary in size.
    pub fn size_bytes(self) -> Option<usize> {
        Some(match self {
            DataType::Bool | DataType::Uint8 | DataType::Int8 => 1,
            DataType::Uint16 | DataType::Int16 | DataType::Fp16 | DataType::Bf16 => 2,
            DataType::Uint32 | DataType::Int32 | DataType::Fp32 => 4,
            DataType::Uint64 | DataType::Int64 | DataType::Fp64 => 8,
            DataType::String => return None,
        })
    }
}

impl fmt::Display for DataType {
    /// Triton's enum name, `TYPE_FP32`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_triton())
    }
}

/// One `input` or `output` of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorConfig {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub data_type: DataType,
    /// The dims clients (and the other steps of an ensemble) see, without the batch dimension; `-1` is a
    /// variable-size dimension.
    pub dims: Vec<i64>,
    /// `reshape { shape: [...] }`: the dims the model itself sees instead of `dims` (again without the
    /// batch dimension). May be empty for a batching model (the model sees `[batch]` only).
    pub reshape: Option<Vec<i64>>,
}

impl TensorConfig {
    /// The full shape the model sees: `reshape` when present, else `dims`, preceded by a `-1` batch
    /// dimension when `max_batch_size > 0`. This is the shape to compare with the ONNX file.
    pub fn shape(&self, max_batch_size: i64) -> Vec<i64> {
        with_batch(self.reshape.as_deref().unwrap_or(&self.dims), max_batch_size)
    }

    /// The full shape clients and ensemble steps see: `dims` (never `reshape`), preceded by a `-1`
    /// batch dimension when `max_batch_size > 0`.
    pub fn client_shape(&self, max_batch_size: i64) -> Vec<i64> {
        with_batch(&self.dims, max_batch_size)
    }
}

fn with_batch(dims: &[i64], max_batch_size: i64) -> Vec<i64> {
    let mut shape = Vec::with_capacity(dims.len() + 1);
    if max_batch_size > 0 {
        shape.push(-1);
    }
    shape.extend_from_slice(dims);
    shape
}

/// Which versions of a model are served (`version_policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionPolicy {
    /// The `num_versions` highest versions (Triton's default, with 1).
    Latest {
        /// How many of the highest versions; at least 1.
        num_versions: u32,
    },
    /// Every version folder.
    All,
    /// Exactly these versions; each must exist.
    Specific(Vec<i64>),
}

impl Default for VersionPolicy {
    fn default() -> Self {
        VersionPolicy::Latest { num_versions: 1 }
    }
}

/// `ensemble_scheduling`: the steps of an ensemble.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnsembleScheduling {
    /// The steps, in the order the config lists them (not necessarily execution order).
    pub steps: Vec<EnsembleStep>,
}

/// One `step` of an ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleStep {
    /// The model this step runs.
    pub model_name: String,
    /// Its version; `-1` (the default) means the highest served version.
    pub model_version: i64,
    /// `(model input name, ensemble tensor name)` pairs, in config order.
    pub input_map: Vec<(String, String)>,
    /// `(model output name, ensemble tensor name)` pairs, in config order.
    pub output_map: Vec<(String, String)>,
}

/// A model's configuration (the fields of Triton's `ModelConfig` this crate uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelConfig {
    /// The model's name: the folder's name.
    pub name: String,
    /// `platform` (`"onnxruntime_onnx"`, `"ensemble"`), empty when not given.
    pub platform: String,
    /// `backend` (`"onnxruntime"`), empty when not given.
    pub backend: String,
    /// `max_batch_size`: 0 when the model does not batch (dims are then the full shape).
    pub max_batch_size: i64,
    /// The inputs, in config order.
    pub inputs: Vec<TensorConfig>,
    /// The outputs, in config order.
    pub outputs: Vec<TensorConfig>,
    /// Which versions are served.
    pub version_policy: VersionPolicy,
    /// `default_model_filename`, when given (else `model.onnx`).
    pub default_model_filename: Option<String>,
    /// The ensemble's steps, for `platform: "ensemble"`.
    pub ensemble: Option<EnsembleScheduling>,
}

impl ModelConfig {
    /// Reads and parses the config file at `path`, for the model folder named `folder_name`.
    pub fn from_file(path: &Path, folder_name: &str) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let message = pbtxt::parse_bytes(&bytes, path)?;
        Self::from_message(&message, path, folder_name)
    }

    /// Parses `text`, the content of the config file `path` (used in errors) of folder `folder_name`.
    pub fn parse(text: &str, path: &Path, folder_name: &str) -> Result<Self> {
        let message = pbtxt::parse(text, path)?;
        Self::from_message(&message, path, folder_name)
    }

    /// Reads the typed config from a parsed tree.
    pub(crate) fn from_message(message: &Message, path: &Path, folder_name: &str) -> Result<Self> {
        let r = Reader { path, model: folder_name };
        let mut config = ModelConfig {
            name: folder_name.to_string(),
            platform: String::new(),
            backend: String::new(),
            max_batch_size: 0,
            inputs: Vec::new(),
            outputs: Vec::new(),
            version_policy: VersionPolicy::default(),
            default_model_filename: None,
            ensemble: None,
        };
        let mut seen = Seen::default();
        for field in &message.fields {
            match field.name.as_str() {
                "name" => {
                    seen.once(&r, "", field)?;
                    let name = r.string("", field)?;
                    if name != folder_name {
                        return Err(r.at(
                            "",
                            field,
                            format!(
                                "the config names the model `{name}` but its folder is `{folder_name}`; \
                                 Triton requires them to be equal"
                            ),
                        ));
                    }
                }
                "platform" => {
                    seen.once(&r, "", field)?;
                    config.platform = r.string("", field)?;
                }
                "backend" => {
                    seen.once(&r, "", field)?;
                    config.backend = r.string("", field)?;
                }
                "max_batch_size" => {
                    seen.once(&r, "", field)?;
                    let v = r.int("", field)?;
                    if !(0..=i64::from(i32::MAX)).contains(&v) {
                        return Err(r.at("", field, format!("must be between 0 and {}, found {v}", i32::MAX)));
                    }
                    config.max_batch_size = v;
                }
                "input" => {
                    let ctx = format!("input {}: ", config.inputs.len());
                    config.inputs.push(r.tensor(&ctx, field)?);
                }
                "output" => {
                    let ctx = format!("output {}: ", config.outputs.len());
                    config.outputs.push(r.tensor(&ctx, field)?);
                }
                "version_policy" => {
                    seen.once(&r, "", field)?;
                    config.version_policy = r.version_policy(field)?;
                }
                "default_model_filename" => {
                    seen.once(&r, "", field)?;
                    config.default_model_filename = Some(r.string("", field)?);
                }
                "ensemble_scheduling" => {
                    seen.once(&r, "", field)?;
                    config.ensemble = Some(r.ensemble(field)?);
                }
                _ => r.ignore("", field),
            }
        }
        config.check(&r)?;
        Ok(config)
    }

    /// Checks across fields, after all were read.
    fn check(&self, r: &Reader<'_>) -> Result<()> {
        if self.platform.is_empty() && self.backend.is_empty() {
            return Err(r.plain("neither `platform` nor `backend` is set"));
        }
        if self.platform == "ensemble" {
            if !self.backend.is_empty() {
                return Err(r.plain(format!("an ensemble must not set `backend` (found `{}`)", self.backend)));
            }
            match &self.ensemble {
                None => {
                    return Err(r.plain("`platform: \"ensemble\"` requires `ensemble_scheduling`"));
                }
                Some(e) if e.steps.is_empty() => {
                    return Err(r.plain("`ensemble_scheduling` must have at least one `step`"));
                }
                Some(_) => {}
            }
            if self.inputs.is_empty() || self.outputs.is_empty() {
                return Err(r.plain("an ensemble must declare at least one `input` and one `output`"));
            }
        } else if self.ensemble.is_some() {
            return Err(r.plain(format!(
                "`ensemble_scheduling` is only allowed with `platform: \"ensemble\"` (platform is `{}`)",
                self.platform
            )));
        }
        if self.platform == "onnxruntime_onnx" && !self.backend.is_empty() && self.backend != "onnxruntime" {
            return Err(r.plain(format!(
                "platform `onnxruntime_onnx` does not match backend `{}` (expected `onnxruntime`)",
                self.backend
            )));
        }
        for (kind, list) in [("input", &self.inputs), ("output", &self.outputs)] {
            for (i, t) in list.iter().enumerate() {
                if list.iter().take(i).any(|u| u.name == t.name) {
                    return Err(r.plain(format!("{kind} `{}` is declared twice", t.name)));
                }
                if t.reshape.as_ref().is_some_and(Vec::is_empty) && self.max_batch_size == 0 {
                    return Err(r.plain(format!(
                        "{kind} `{}`: an empty `reshape` is only allowed when `max_batch_size > 0`",
                        t.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// `platform: "ensemble"`.
    pub fn is_ensemble(&self) -> bool {
        self.platform == "ensemble"
    }

    /// Runs on ONNX Runtime: `platform: "onnxruntime_onnx"` or `backend: "onnxruntime"`.
    pub fn is_onnx(&self) -> bool {
        self.platform == "onnxruntime_onnx" || self.backend == "onnxruntime"
    }

    /// The input called `name`.
    pub fn input(&self, name: &str) -> Option<&TensorConfig> {
        self.inputs.iter().find(|t| t.name == name)
    }

    /// The output called `name`.
    pub fn output(&self, name: &str) -> Option<&TensorConfig> {
        self.outputs.iter().find(|t| t.name == name)
    }
}

/// Tracks singular fields so that a second occurrence is an error.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn once(&mut self, r: &Reader<'_>, ctx: &str, field: &Field) -> Result<()> {
        if self.0.contains(&field.name) {
            return Err(r.at(ctx, field, "is given more than once, but it is not a repeated field"));
        }
        self.0.push(field.name.clone());
        Ok(())
    }
}

/// Reads typed values out of fields, with errors that name the file, model, field and position.
struct Reader<'a> {
    path: &'a Path,
    model: &'a str,
}

impl Reader<'_> {
    fn plain(&self, message: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.to_path_buf(),
            model: self.model.to_string(),
            kind: ConfigErrorKind::InvalidField,
            message: message.into(),
        }
    }

    /// An error about `field`: "`ctx`field `name` at line:col: message".
    fn at(&self, ctx: &str, field: &Field, message: impl fmt::Display) -> Error {
        self.plain(format!("{ctx}field `{}` at {}:{}: {message}", field.name, field.line, field.col))
    }

    fn wrong(&self, ctx: &str, field: &Field, expected: &str) -> Error {
        self.at(ctx, field, format!("expected {expected}, found {}", field.value.describe()))
    }

    fn ignore(&self, ctx: &str, field: &Field) {
        tracing::debug!(
            path = %self.path.display(),
            model = self.model,
            field = %field.name,
            line = field.line,
            col = field.col,
            "ignoring {ctx}config field `{}` (not used by clo-pipeline)",
            field.name
        );
    }

    fn string(&self, ctx: &str, field: &Field) -> Result<String> {
        match &field.value {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.wrong(ctx, field, "a string")),
        }
    }

    fn int(&self, ctx: &str, field: &Field) -> Result<i64> {
        match &field.value {
            Value::Int(v) => Ok(*v),
            _ => Err(self.wrong(ctx, field, "an integer")),
        }
    }

    fn message<'m>(&self, ctx: &str, field: &'m Field) -> Result<&'m Message> {
        match &field.value {
            Value::Message(m) => Ok(m),
            _ => Err(self.wrong(ctx, field, "a message `{ ... }`")),
        }
    }

    fn tensor(&self, ctx: &str, field: &Field) -> Result<TensorConfig> {
        let msg = self.message(ctx, field)?;
        let mut name = None;
        let mut data_type = None;
        let mut dims = Vec::new();
        let mut reshape = None;
        let mut seen = Seen::default();
        // The name first, so that the other errors can say which tensor.
        let mut ctx = ctx.to_string();
        if let Some(f) = msg.get("name") {
            let n = self.string(&ctx, f)?;
            ctx = format!("{} `{n}`: ", ctx.trim_end_matches(": "));
        }
        for f in &msg.fields {
            match f.name.as_str() {
                "name" => {
                    seen.once(self, &ctx, f)?;
                    let n = self.string(&ctx, f)?;
                    if n.is_empty() {
                        return Err(self.at(&ctx, f, "must not be empty"));
                    }
                    name = Some(n);
                }
                "data_type" => {
                    seen.once(self, &ctx, f)?;
                    data_type = Some(self.data_type(&ctx, f)?);
                }
                "dims" => {
                    let d = self.int(&ctx, f)?;
                    if d < 1 && d != -1 {
                        return Err(self.at(
                            &ctx,
                            f,
                            format!("a dim must be >= 1, or -1 for a variable size; found {d}"),
                        ));
                    }
                    dims.push(d);
                }
                "reshape" => {
                    seen.once(self, &ctx, f)?;
                    let m = self.message(&ctx, f)?;
                    let mut shape = Vec::new();
                    for g in &m.fields {
                        if g.name == "shape" {
                            let d = self.int(&ctx, g)?;
                            if d < 1 && d != -1 {
                                return Err(self.at(
                                    &ctx,
                                    g,
                                    format!("a reshape dim must be >= 1, or -1 for a variable size; found {d}"),
                                ));
                            }
                            shape.push(d);
                        } else {
                            self.ignore(&ctx, g);
                        }
                    }
                    reshape = Some((shape, f));
                }
                _ => self.ignore(&ctx, f),
            }
        }
        let Some(name) = name else {
            return Err(self.at(&ctx, field, "the tensor has no `name`"));
        };
        let Some(data_type) = data_type else {
            return Err(self.at(&ctx, field, "the tensor has no `data_type`"));
        };
        if dims.is_empty() {
            return Err(self.at(&ctx, field, "the tensor has no `dims`"));
        }
        let reshape = match reshape {
            None => None,
            Some((shape, f)) => {
                check_reshape(&dims, &shape).map_err(|m| self.at(&ctx, f, m))?;
                Some(shape)
            }
        };
        Ok(TensorConfig { name, data_type, dims, reshape })
    }

    fn data_type(&self, ctx: &str, field: &Field) -> Result<DataType> {
        let found = match &field.value {
            Value::Ident(s) => DataType::from_triton(s),
            Value::Int(n) => DataType::from_triton_number(*n),
            _ => return Err(self.wrong(ctx, field, "a data type such as TYPE_FP32")),
        };
        found.ok_or_else(|| {
            let names: Vec<&str> = DataType::ALL.iter().map(|t| t.as_triton()).collect();
            self.at(ctx, field, format!("unknown data type `{}`; expected one of {}", field.value, names.join(", ")))
        })
    }

    fn version_policy(&self, field: &Field) -> Result<VersionPolicy> {
        let ctx = "version_policy: ";
        let msg = self.message("", field)?;
        let mut policy = None;
        for f in &msg.fields {
            let this = match f.name.as_str() {
                "latest" => {
                    let m = self.message(ctx, f)?;
                    let mut n = 1u32;
                    for g in &m.fields {
                        if g.name == "num_versions" {
                            let v = self.int(ctx, g)?;
                            n = u32::try_from(v)
                                .ok()
                                .filter(|n| *n >= 1)
                                .ok_or_else(|| self.at(ctx, g, format!("must be at least 1, found {v}")))?;
                        } else {
                            self.ignore(ctx, g);
                        }
                    }
                    VersionPolicy::Latest { num_versions: n }
                }
                "all" => {
                    let m = self.message(ctx, f)?;
                    for g in &m.fields {
                        self.ignore(ctx, g);
                    }
                    VersionPolicy::All
                }
                "specific" => {
                    let m = self.message(ctx, f)?;
                    let mut versions = Vec::new();
                    for g in &m.fields {
                        if g.name == "versions" {
                            let v = self.int(ctx, g)?;
                            if v < 0 {
                                return Err(self.at(ctx, g, format!("a version is >= 0, found {v}")));
                            }
                            versions.push(v);
                        } else {
                            self.ignore(ctx, g);
                        }
                    }
                    if versions.is_empty() {
                        return Err(self.at(ctx, f, "lists no `versions`"));
                    }
                    versions.sort_unstable();
                    versions.dedup();
                    VersionPolicy::Specific(versions)
                }
                _ => {
                    self.ignore(ctx, f);
                    continue;
                }
            };
            if policy.is_some() {
                return Err(self.at(ctx, f, "only one of `latest`, `all` and `specific` may be given"));
            }
            policy = Some(this);
        }
        Ok(policy.unwrap_or_default())
    }

    fn ensemble(&self, field: &Field) -> Result<EnsembleScheduling> {
        let msg = self.message("", field)?;
        let mut steps = Vec::new();
        for f in &msg.fields {
            if f.name != "step" {
                self.ignore("ensemble_scheduling: ", f);
                continue;
            }
            let ctx = format!("ensemble_scheduling step {}: ", steps.len());
            let m = self.message(&ctx, f)?;
            let mut seen = Seen::default();
            let mut model_name = None;
            let mut model_version = -1;
            let mut input_map = Vec::new();
            let mut output_map = Vec::new();
            for g in &m.fields {
                match g.name.as_str() {
                    "model_name" => {
                        seen.once(self, &ctx, g)?;
                        model_name = Some(self.string(&ctx, g)?);
                    }
                    "model_version" => {
                        seen.once(self, &ctx, g)?;
                        let v = self.int(&ctx, g)?;
                        if v < -1 {
                            return Err(self.at(&ctx, g, format!("must be -1 (latest) or a version >= 0, found {v}")));
                        }
                        model_version = v;
                    }
                    "input_map" => self.map_entry(&ctx, g, &mut input_map)?,
                    "output_map" => self.map_entry(&ctx, g, &mut output_map)?,
                    _ => self.ignore(&ctx, g),
                }
            }
            let model_name = match model_name {
                Some(n) if !n.is_empty() => n,
                _ => return Err(self.at(&ctx, f, "the step has no `model_name`")),
            };
            steps.push(EnsembleStep { model_name, model_version, input_map, output_map });
        }
        Ok(EnsembleScheduling { steps })
    }

    /// One `map<string, string>` entry `{ key: "k" value: "v" }`.
    fn map_entry(&self, ctx: &str, field: &Field, out: &mut Vec<(String, String)>) -> Result<()> {
        let m = self.message(ctx, field)?;
        let mut key = None;
        let mut value = None;
        for g in &m.fields {
            match g.name.as_str() {
                "key" => key = Some(self.string(ctx, g)?),
                "value" => value = Some(self.string(ctx, g)?),
                _ => {
                    return Err(self.at(ctx, g, format!("a `{}` entry has only `key` and `value`", field.name)));
                }
            }
        }
        let (Some(key), Some(value)) = (key, value) else {
            return Err(self.at(ctx, field, "the entry needs both `key` and `value`"));
        };
        if out.iter().any(|(k, _)| *k == key) {
            return Err(self.at(ctx, field, format!("the key `{key}` appears twice")));
        }
        out.push((key, value));
        Ok(())
    }
}

/// Triton's rule for `reshape`: when neither side has a variable dim, both hold the same number of
/// elements; otherwise both have the same number of `-1`s.
fn check_reshape(dims: &[i64], reshape: &[i64]) -> std::result::Result<(), String> {
    let var = |s: &[i64]| s.iter().filter(|d| **d == -1).count();
    let count = |s: &[i64]| s.iter().try_fold(1i64, |acc, d| acc.checked_mul(*d));
    if var(dims) == 0 && var(reshape) == 0 {
        if count(dims) != count(reshape) {
            return Err(format!(
                "reshape {} holds a different number of elements than dims {}",
                shape_text(reshape),
                shape_text(dims)
            ));
        }
    } else if var(dims) != var(reshape) {
        return Err(format!(
            "reshape {} and dims {} must have the same number of variable (-1) dims",
            shape_text(reshape),
            shape_text(dims)
        ));
    }
    Ok(())
}

/// `[1,3,640,640]`.
pub(crate) fn shape_text(shape: &[i64]) -> String {
    let items: Vec<String> = shape.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn cfg(text: &str, folder: &str) -> ModelConfig {
        match ModelConfig::parse(text, Path::new("m/config.pbtxt"), folder) {
            Ok(c) => c,
            Err(e) => panic!("{e}\n{text}"),
        }
    }

    /// The `Error::Config` message (asserting path and model).
    fn cfg_err(text: &str, folder: &str) -> String {
        match ModelConfig::parse(text, Path::new("m/config.pbtxt"), folder) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(Error::Config { path, model, message, .. }) => {
                assert_eq!(path, Path::new("m/config.pbtxt"));
                assert_eq!(model, folder);
                message
            }
            Err(e) => panic!("wrong error {e:?}"),
        }
    }

    const ONNX: &str = "platform: \"onnxruntime_onnx\"\n";

    fn with_tensor(t: &str) -> String {
        format!("{ONNX}input {{ {t} }}\noutput {{ name: \"o\" data_type: TYPE_FP32 dims: [1] }}")
    }

    #[test]
    fn data_types() {
        for t in DataType::ALL {
            assert_eq!(DataType::from_triton(t.as_triton()), Some(t));
            assert_eq!(DataType::from_kserve(t.kserve_name()), Some(t));
            assert_eq!(t.to_string(), t.as_triton());
        }
        assert_eq!(DataType::from_triton("TYPE_INVALID"), None);
        assert_eq!(DataType::from_triton("FP32"), None);
        assert_eq!(DataType::Fp32.kserve_name(), "FP32");
        assert_eq!(DataType::Uint8.kserve_name(), "UINT8");
        assert_eq!(DataType::String.kserve_name(), "BYTES");
        assert_eq!(DataType::Bf16.kserve_name(), "BF16");
        assert_eq!(DataType::Fp32.size_bytes(), Some(4));
        assert_eq!(DataType::Bool.size_bytes(), Some(1));
        assert_eq!(DataType::Fp16.size_bytes(), Some(2));
        assert_eq!(DataType::Int64.size_bytes(), Some(8));
        assert_eq!(DataType::String.size_bytes(), None);
        assert_eq!(DataType::from_triton_number(11), Some(DataType::Fp32));
        assert_eq!(DataType::from_triton_number(13), Some(DataType::String));
        assert_eq!(DataType::from_triton_number(14), Some(DataType::Bf16));
        assert_eq!(DataType::from_triton_number(0), None);
        assert_eq!(DataType::from_triton_number(15), None);
    }

    #[test]
    fn guide_configs() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/configs");
        let load = |name: &str| ModelConfig::from_file(&Path::new(dir).join(format!("{name}.pbtxt")), name).unwrap();
        let pre = load("preprocessing");
        assert_eq!(pre.platform, "onnxruntime_onnx");
        assert!(pre.is_onnx() && !pre.is_ensemble());
        assert_eq!(pre.inputs[0].shape(pre.max_batch_size), vec![1, 3, 2160, 3840]);
        assert_eq!(pre.outputs[0].name, "preprocessed_640_640_image");
        let post = load("postprocessing");
        assert_eq!(post.inputs.len(), 2);
        assert_eq!(post.input("yolo_detections").unwrap().dims, vec![1, 300, 6]);
        let eff = load("efficientnet_v2");
        assert_eq!(eff.backend, "onnxruntime");
        assert!(eff.is_onnx());
        assert_eq!(eff.inputs[0].dims, vec![1, 3, 384, 384]);
        assert_eq!(eff.output("estimated_oil_pct").unwrap().dims, vec![1, 1]);
        let yolo = load("yolov8");
        assert_eq!(yolo.outputs[0].dims, vec![1, 300, 6]);
        let ens = load("ensemble");
        assert!(ens.is_ensemble());
        assert_eq!(ens.outputs.len(), 3);
        let steps = &ens.ensemble.as_ref().unwrap().steps;
        let names: Vec<&str> = steps.iter().map(|s| s.model_name.as_str()).collect();
        assert_eq!(names, ["preprocessing", "yolov8", "postprocessing", "efficientnet_v2"]);
        assert!(steps.iter().all(|s| s.model_version == -1));
        assert_eq!(
            steps[2].input_map,
            vec![
                ("original_image_3840_2160".to_string(), "original_image_3840_2160".to_string()),
                ("yolo_detections".to_string(), "yolo_detections".to_string())
            ]
        );
        assert_eq!(steps[3].output_map, vec![("estimated_oil_pct".to_string(), "estimated_oil_pct".to_string())]);
    }

    #[test]
    fn defaults() {
        let c = cfg(&with_tensor("name: \"x\" data_type: TYPE_UINT8 dims: [ -1, 3 ]"), "folder");
        assert_eq!(c.name, "folder");
        assert_eq!(c.max_batch_size, 0);
        assert_eq!(c.version_policy, VersionPolicy::Latest { num_versions: 1 });
        assert_eq!(c.default_model_filename, None);
        assert_eq!(c.inputs[0].data_type, DataType::Uint8);
        assert_eq!(c.inputs[0].reshape, None);
    }

    #[test]
    fn shapes_with_batch_and_reshape() {
        let t = TensorConfig { name: "x".into(), data_type: DataType::Fp32, dims: vec![3, 4], reshape: None };
        assert_eq!(t.shape(0), vec![3, 4]);
        assert_eq!(t.shape(8), vec![-1, 3, 4]);
        let r = TensorConfig { reshape: Some(vec![12]), ..t.clone() };
        assert_eq!(r.shape(0), vec![12]);
        assert_eq!(r.shape(4), vec![-1, 12]);
        assert_eq!(r.client_shape(4), vec![-1, 3, 4]);
        let c = cfg(
            &format!(
                "max_batch_size: 4\n{}",
                with_tensor("name: \"x\" data_type: TYPE_FP32 dims: [1] reshape: { shape: [ ] }")
            ),
            "m",
        );
        assert_eq!(c.inputs[0].shape(c.max_batch_size), vec![-1]);
        let c = cfg(&with_tensor("name: \"x\" data_type: TYPE_FP32 dims: [2, 6] reshape { shape: [3, 4] }"), "m");
        assert_eq!(c.inputs[0].reshape, Some(vec![3, 4]));
    }

    #[test]
    fn version_policies() {
        let p = |vp: &str| {
            cfg(&format!("{}version_policy: {vp}", with_tensor("name: \"x\" data_type: TYPE_FP32 dims: 1")), "m")
                .version_policy
        };
        assert_eq!(p("{ latest { num_versions: 3 } }"), VersionPolicy::Latest { num_versions: 3 });
        assert_eq!(p("{ latest { } }"), VersionPolicy::Latest { num_versions: 1 });
        assert_eq!(p("{ all { } }"), VersionPolicy::All);
        assert_eq!(p("{ all: {} }"), VersionPolicy::All);
        assert_eq!(p("{ specific { versions: [3, 1] versions: 3 } }"), VersionPolicy::Specific(vec![1, 3]));
        assert_eq!(p("{ }"), VersionPolicy::default());
    }

    #[test]
    fn ignores_unknown_fields() {
        let c = cfg(
            &format!(
                "{}\ninstance_group [ {{ kind: KIND_CPU count: 2 }} ]\ndynamic_batching {{ max_queue_delay_microseconds: 100 }}\n\
                 model_warmup [ {{ name: \"w\" batch_size: 1 }} ]\nlabel_filename: \"l.txt\"\nsome_future_field: 3",
                with_tensor("name: \"x\" data_type: TYPE_FP32 dims: 1 format: FORMAT_NCHW optional: false")
            ),
            "m",
        );
        assert_eq!(c.inputs.len(), 1);
    }

    #[test]
    fn errors_name_field_and_position() {
        let t = |s: &str| with_tensor(s);
        let cases: Vec<(String, &str, &str)> = vec![
            ("name: \"other\"\nplatform: \"onnxruntime_onnx\"".into(), "field `name` at 1:1", "folder is `m`"),
            (format!("{ONNX}max_batch_size: \"x\""), "field `max_batch_size` at 2:1", "expected an integer, found string \"x\""),
            (format!("{ONNX}max_batch_size: -1"), "field `max_batch_size` at 2:1", "must be between 0 and"),
            (format!("{ONNX}max_batch_size: 1\nmax_batch_size: 2"), "field `max_batch_size` at 3:1", "more than once"),
            (t("name: \"x\" data_type: TYPE_FOO dims: 1"), "input 0 `x`: field `data_type` at 2:19", "unknown data type `TYPE_FOO`"),
            (t("name: \"x\" data_type: \"TYPE_FP32\" dims: 1"), "field `data_type` at 2:19", "expected a data type"),
            (t("name: \"x\" data_type: TYPE_FP32 dims: [1, 0]"), "input 0 `x`: field `dims` at 2:50", "found 0"),
            (t("name: \"x\" data_type: TYPE_FP32 dims: -2"), "field `dims` at 2:40", "found -2"),
            (t("name: \"x\" data_type: TYPE_FP32 dims: 1.5"), "field `dims`", "expected an integer, found float 1.5"),
            (t("data_type: TYPE_FP32 dims: 1"), "input 0: field `input` at 2:1", "no `name`"),
            (t("name: \"x\" dims: 1"), "input 0 `x`: field `input` at 2:1", "no `data_type`"),
            (t("name: \"x\" data_type: TYPE_FP32"), "field `input` at 2:1", "no `dims`"),
            (t("name: \"\" data_type: TYPE_FP32 dims: 1"), "field `name`", "must not be empty"),
            (t("name: \"x\" data_type: TYPE_FP32 dims: [2, 6] reshape { shape: [5] }"), "field `reshape`", "different number of elements"),
            (t("name: \"x\" data_type: TYPE_FP32 dims: [-1, 6] reshape { shape: [6] }"), "field `reshape`", "same number of variable"),
            (t("name: \"x\" data_type: TYPE_FP32 dims: 1 reshape { shape: [0] }"), "field `shape`", "found 0"),
            (t("name: \"x\" data_type: TYPE_FP32 dims: 1 reshape { shape: [] }"), "input `x`", "empty `reshape`"),
            (format!("{ONNX}input: 3"), "field `input` at 2:1", "expected a message"),
            (format!("{ONNX}input {{ name: \"a\" data_type: TYPE_FP32 dims: 1 }} input {{ name: \"a\" data_type: TYPE_FP32 dims: 1 }}"), "input `a`", "declared twice"),
            ("max_batch_size: 0".into(), "", "neither `platform` nor `backend`"),
            ("platform: \"onnxruntime_onnx\" backend: \"tensorrt\"".into(), "", "does not match backend"),
            (format!("{ONNX}version_policy {{ latest {{ num_versions: 0 }} }}"), "version_policy: field `num_versions` at 2:27", "at least 1"),
            (format!("{ONNX}version_policy {{ specific {{ }} }}"), "field `specific`", "no `versions`"),
            (format!("{ONNX}version_policy {{ specific {{ versions: -1 }} }}"), "field `versions`", ">= 0"),
            (format!("{ONNX}version_policy {{ all {{}} latest {{}} }}"), "field `latest`", "only one of"),
            ("platform: \"ensemble\"".into(), "", "requires `ensemble_scheduling`"),
            (format!("{ONNX}ensemble_scheduling {{ step {{ model_name: \"a\" }} }}"), "", "only allowed with"),
            ("platform: \"ensemble\" ensemble_scheduling { }".into(), "", "at least one `step`"),
            ("platform: \"ensemble\" ensemble_scheduling { step { model_name: \"a\" } }".into(), "", "at least one `input`"),
            ("platform: \"ensemble\" ensemble_scheduling { step { model_version: 1 } }".into(), "ensemble_scheduling step 0: field `step` at 1:44", "no `model_name`"),
            ("platform: \"ensemble\" ensemble_scheduling { step { model_name: \"a\" model_version: -2 } }".into(), "field `model_version`", "must be -1"),
            ("platform: \"ensemble\" ensemble_scheduling { step { model_name: \"a\" input_map { key: \"k\" } } }".into(), "field `input_map`", "both `key` and `value`"),
            ("platform: \"ensemble\" ensemble_scheduling { step { model_name: \"a\" input_map { key: \"k\" value: \"v\" } input_map { key: \"k\" value: \"w\" } } }".into(), "field `input_map`", "appears twice"),
            ("platform: \"ensemble\" ensemble_scheduling { step { model_name: \"a\" output_map { key: \"k\" v: \"v\" } } }".into(), "field `v`", "only `key` and `value`"),
            ("platform: \"ensemble\" backend: \"x\"".into(), "", "must not set `backend`"),
        ];
        let mut failures = Vec::new();
        for (text, want_at, want) in cases {
            let msg = cfg_err(&text, "m");
            if !msg.contains(want_at) || !msg.contains(want) {
                failures.push(format!("{text:?}:\n  {msg:?}\n  lacks {want_at:?} or {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn fuzz_mutated_configs_never_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs");
        let seeds: Vec<Vec<char>> = ["ensemble", "postprocessing", "efficientnet_v2"]
            .iter()
            .map(|n| std::fs::read_to_string(dir.join(format!("{n}.pbtxt"))).unwrap().chars().collect())
            .collect();
        let alphabet: Vec<char> = "{}[]:,\"-019xTYPE_FP32 \nname dims key value step reshape shape".chars().collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        for round in 0..3000 {
            let mut s = seeds[round % seeds.len()].clone();
            for _ in 0..1 + rnd(6) {
                let at = rnd(s.len() + 1);
                let c = alphabet[rnd(alphabet.len())];
                match rnd(3) {
                    0 if at < s.len() => {
                        s.remove(at);
                    }
                    1 if at < s.len() => s[at] = c,
                    _ => s.insert(at, c),
                }
            }
            let text: String = s.into_iter().collect();
            let _ = ModelConfig::parse(&text, Path::new("f"), "ensemble");
        }
    }

    #[test]
    fn syntax_errors_pass_through() {
        match ModelConfig::parse("input { dims ] }", Path::new("c.pbtxt"), "m") {
            Err(Error::ConfigSyntax { line, col, message, .. }) => {
                assert_eq!((line, col), (1, 14));
                assert!(message.contains("expected `:` or `{` after field name `dims`, found `]`"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
