//! The typed model configuration read from a `config.pbtxt`, after Triton's checks.
//!
//! Reading a config is Triton's sequence, each step in its own module:
//!
//! 1. the protobuf text is parsed (`pbtxt.rs`) and held to Triton's whole `ModelConfig`
//!    schema (`schema`): an unknown or misspelt field (with the nearest known name), a wrong type, a bad
//!    enum value, a singular field given twice, anywhere in the file, is an [`Error::ConfigSyntax`] with the
//!    file, line and column;
//! 2. the backend fields are completed as Triton completes them even with strict model config
//!    (`platform` from `backend` and back, `default_model_filename`, or both from the files in the first
//!    version folder), and an empty `name` becomes the folder's;
//! 3. Triton's checks of the config (`check`) run with Triton's messages; a failure is an
//!    [`Error::Config`] naming the file and the model;
//! 4. the fields this crate uses are read into [`ModelConfig`]. Every other field was checked against the
//!    schema and Triton's rules, and is not otherwise used (the crate has its own scheduling, devices and
//!    batching).

use std::fmt;
use std::path::Path;

use super::autocomplete::{self, Folder};
use super::check;
use super::pbtxt::{self, Message};
use super::schema::{self, DATA_TYPE, View};
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

    /// Triton's enum number (`TYPE_FP32` is 11).
    pub fn number(self) -> i64 {
        Self::ALL.iter().position(|t| *t == self).map_or(0, |i| i as i64 + 1)
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
    /// `optional: true` (inputs only): the input may be left out, of a request or of an ensemble step's
    /// `input_map`.
    pub optional: bool,
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

/// A model's configuration (the fields of Triton's `ModelConfig` this crate uses), checked and completed as
/// Triton does (see the module docs).
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
    /// `model_transaction_policy { decoupled: true }`: the model may send any number of responses per
    /// request (Triton's decoupled models; checked in ensembles, never run by this crate).
    pub decoupled: bool,
    /// How many model inputs Triton feeds besides `input`: batch inputs, sequence-batching controls and
    /// states (which this crate does not produce: a model with any cannot run here).
    pub implicit_inputs: usize,
}

impl ModelConfig {
    /// Reads the config file at `path` of the model folder `folder_name` as Triton does with strict model
    /// config: parsed, held to the schema, its backend fields completed from the model folder (the config
    /// file's folder), checked with Triton's rules, read.
    pub fn from_file(path: &Path, folder_name: &str) -> Result<Self> {
        let mut tree = parse_file(path)?;
        let folder = path.parent().map(Folder::read).unwrap_or_default();
        prepare(&mut tree, path, folder_name, &folder)?;
        finish(&tree, path, folder_name, None)
    }

    /// Parses `text`, the content of the config file `path` (used in errors) of folder `folder_name`, like
    /// [`ModelConfig::from_file`] but without a model folder to complete the backend fields from (so a config
    /// that names neither a platform nor a backend is an error unless `folder_name` is `model.<backend>`).
    pub fn parse(text: &str, path: &Path, folder_name: &str) -> Result<Self> {
        let mut tree = pbtxt::parse(text, path)?;
        schema::check(&tree, path)?;
        prepare(&mut tree, path, folder_name, &Folder::default())?;
        finish(&tree, path, folder_name, None)
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

/// Steps 1: the file parsed and held to the schema.
pub(crate) fn parse_file(path: &Path) -> Result<Message> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let tree = pbtxt::parse_bytes(&bytes, path)?;
    schema::check(&tree, path)?;
    Ok(tree)
}

/// An [`Error::Config`] with Triton's message.
pub(crate) fn config_error(path: &Path, model: &str, message: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        model: model.to_string(),
        kind: ConfigErrorKind::InvalidField,
        message: message.into(),
    }
}

/// Steps 2 and 3 up to Triton's `ValidateModelConfig`: backend fields completed, the config checked, and the
/// name compared with the folder's.
pub(crate) fn prepare(tree: &mut Message, path: &Path, folder_name: &str, folder: &Folder) -> Result<()> {
    let err = |m: String| config_error(path, folder_name, m);
    autocomplete::complete_backend_fields(tree, folder_name, folder).map_err(err)?;
    check::validate_model_config(View::of(tree)).map_err(err)?;
    Ok(())
}

/// The rest of step 3 (inputs and outputs, the name, instance groups with the GPUs `gpus` when known) and
/// step 4.
pub(crate) fn finish(tree: &Message, path: &Path, folder_name: &str, gpus: Option<&[i32]>) -> Result<ModelConfig> {
    let err = |m: String| config_error(path, folder_name, m);
    let view = View::of(tree);
    check::validate_io_config(view).map_err(err)?;
    let name = view.str("name");
    if name != folder_name {
        return Err(err(format!(
            "unexpected directory name '{folder_name}' for model '{name}', directory name must equal model name"
        )));
    }
    check::validate_instance_groups(view, gpus).map_err(err)?;
    read(view, path, folder_name)
}

/// Step 4: the typed fields, from a tree that passed every check.
fn read(c: View<'_>, path: &Path, folder_name: &str) -> Result<ModelConfig> {
    let err = |m: String| config_error(path, folder_name, m);
    let tensors = |kind: &str, list: Vec<View<'_>>| -> Result<Vec<TensorConfig>> {
        list.into_iter()
            .map(|t| {
                let name = t.str("name").to_string();
                let number = t.enum_number("data_type", &DATA_TYPE);
                let data_type = DataType::from_triton_number(number).ok_or_else(|| {
                    err(format!("{kind} '{name}': data type {number} is not one of Triton's data types"))
                })?;
                Ok(TensorConfig {
                    name,
                    data_type,
                    dims: t.ints("dims"),
                    reshape: t.has("reshape").then(|| t.msg("reshape").ints("shape")),
                    optional: t.bool("optional"),
                })
            })
            .collect()
    };
    let vp = c.msg("version_policy");
    let version_policy = if vp.has("specific") {
        let mut versions = vp.msg("specific").ints("versions");
        versions.sort_unstable();
        versions.dedup();
        VersionPolicy::Specific(versions)
    } else if vp.has("all") {
        VersionPolicy::All
    } else if vp.has("latest") {
        let n = vp.msg("latest").uint("num_versions");
        VersionPolicy::Latest { num_versions: u32::try_from(n).unwrap_or(u32::MAX) }
    } else {
        VersionPolicy::default()
    };
    let ensemble = c.has("ensemble_scheduling").then(|| EnsembleScheduling {
        steps: c
            .msg("ensemble_scheduling")
            .msgs("step")
            .into_iter()
            .map(|s| EnsembleStep {
                model_name: s.str("model_name").to_string(),
                model_version: s.int("model_version"),
                input_map: s.string_map("input_map"),
                output_map: s.string_map("output_map"),
            })
            .collect(),
    });
    let file = c.str("default_model_filename");
    Ok(ModelConfig {
        name: c.str("name").to_string(),
        platform: c.str("platform").to_string(),
        backend: c.str("backend").to_string(),
        max_batch_size: c.int("max_batch_size"),
        inputs: tensors("input", c.msgs("input"))?,
        outputs: tensors("output", c.msgs("output"))?,
        version_policy,
        default_model_filename: (!file.is_empty()).then(|| file.to_string()),
        ensemble,
        decoupled: c.msg("model_transaction_policy").bool("decoupled"),
        implicit_inputs: c.count("batch_input")
            + c.msg("sequence_batching").msgs("control_input").iter().filter(|i| i.count("control") > 0).count()
            + c.msg("sequence_batching").count("state"),
    })
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
        // Completed as Triton completes it for an ONNX Runtime model.
        assert_eq!(c.default_model_filename.as_deref(), Some("model.onnx"));
        assert_eq!(c.backend, "onnxruntime");
        assert!(!c.inputs[0].optional);
        assert_eq!(c.inputs[0].data_type, DataType::Uint8);
        assert_eq!(c.inputs[0].reshape, None);
    }

    #[test]
    fn shapes_with_batch_and_reshape() {
        let t = TensorConfig {
            name: "x".into(),
            data_type: DataType::Fp32,
            dims: vec![3, 4],
            reshape: None,
            optional: false,
        };
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
        // Proto3: an empty `latest` has num_versions 0, which serves no version (an error when loading).
        assert_eq!(p("{ latest { } }"), VersionPolicy::Latest { num_versions: 0 });
        assert_eq!(p("{ all { } }"), VersionPolicy::All);
        assert_eq!(p("{ all: {} }"), VersionPolicy::All);
        assert_eq!(p("{ specific { versions: [3, 1] versions: 3 } }"), VersionPolicy::Specific(vec![1, 3]));
        assert_eq!(p("{ }"), VersionPolicy::default());
    }

    #[test]
    fn unknown_fields_are_errors_anywhere() {
        // The two examples: a misspelt top-level field, and a misspelt field inside an input.
        for (text, at, want) in [
            (
                format!("{ONNX}max_batch_sise: 1"),
                (2, 1),
                "has no field named \"max_batch_sise\"; did you mean \"max_batch_size\"?",
            ),
            (
                with_tensor("name: \"x\" data_type: TYPE_FP32 dims: [4] reshpe { shape: [2, 2] }"),
                (2, 50),
                "\"inference.ModelInput\" has no field named \"reshpe\"; did you mean \"reshape\"?",
            ),
            (format!("{ONNX}instance_group [ {{ kind: KIND_CPU cont: 2 }} ]"), (2, 35), "did you mean \"count\"?"),
            (format!("{ONNX}some_future_field: 3"), (2, 1), "has no field named \"some_future_field\""),
        ] {
            match ModelConfig::parse(&text, Path::new("m/config.pbtxt"), "m") {
                Err(Error::ConfigSyntax { line, col, message, .. }) => {
                    assert_eq!((line, col), at, "{text}: {message}");
                    assert!(message.contains(want), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn fields_the_crate_does_not_use_are_checked_and_accepted() {
        let c = cfg(
            &format!(
                "{}\ninstance_group [ {{ kind: KIND_CPU count: 2 }} ]\ndynamic_batching {{ max_queue_delay_microseconds: 100 }}\n\
                 parameters {{ key: \"k\" value {{ string_value: \"v\" }} }}\nmodel_transaction_policy {{ decoupled: false }}\n\
                 model_warmup [ {{ name: \"w\" batch_size: 1 inputs {{ key: \"x\" value {{ data_type: TYPE_FP32 dims: 1 zero_data: true }} }} }} ]",
                with_tensor("name: \"x\" data_type: TYPE_FP32 dims: 1 optional: false")
            ),
            "m",
        );
        assert_eq!(c.inputs.len(), 1);
        assert!(!c.decoupled);
        // Proto3: a scalar at its default may be given again; the last value is the one read.
        let c = cfg(
            &format!(
                "max_batch_size: 0\nmax_batch_size: 4\n{}",
                with_tensor("name: \"x\" data_type: 11 dims: 1 optional: t")
            ),
            "m",
        );
        assert_eq!(c.max_batch_size, 4);
        assert_eq!(c.inputs[0].data_type, DataType::Fp32);
        assert!(c.inputs[0].optional);
    }

    #[test]
    fn backend_fields_are_completed_as_triton_does() {
        let c = cfg("platform: \"onnxruntime_onnx\"", "m");
        assert_eq!((c.backend.as_str(), c.default_model_filename.as_deref()), ("onnxruntime", Some("model.onnx")));
        let c = cfg("backend: \"onnxruntime\"", "m");
        assert_eq!(c.platform, "onnxruntime_onnx");
        let c = cfg("default_model_filename: \"model.onnx\"", "m");
        assert!(c.is_onnx());
        // A name.backend folder with nothing else: Triton's custom backend rule.
        let c = cfg("", "m.identity");
        assert_eq!((c.backend.as_str(), c.default_model_filename.as_deref()), ("identity", Some("model.identity")));
        let c = cfg(
            "platform: \"ensemble\" input { name: \"a\" data_type: TYPE_FP32 dims: 1 } output { name: \"b\" data_type: TYPE_FP32 dims: 1 } \
             ensemble_scheduling { step { model_name: \"x\" input_map { key: \"i\" value: \"a\" } output_map { key: \"o\" value: \"b\" } } }",
            "e",
        );
        assert!(c.is_ensemble() && c.backend.is_empty());
    }

    #[test]
    fn tritons_messages() {
        let t = |s: &str| with_tensor(s);
        let cases: Vec<(String, &str)> = vec![
            (
                "name: \"other\"\nplatform: \"onnxruntime_onnx\"".into(),
                "unexpected directory name 'm' for model 'other', directory name must equal model name",
            ),
            (format!("{ONNX}max_batch_size: -1"), "'max_batch_size' must be non-negative value for m"),
            (t("name: \"x\" dims: 1"), "model input 'x' must specify 'data_type' for m"),
            (t("data_type: TYPE_FP32 dims: 1"), "model input must specify 'name' for m"),
            (t("name: \"x\" data_type: TYPE_FP32"), "model input 'x' must specify 'dims' for m"),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: [1, 0]"),
                "model input 'x' dimension must be integer >= 1, or -1 to indicate a variable-size dimension for m",
            ),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: [2, 6] reshape { shape: [5] }"),
                "model input 'x' has different size for dims and reshape for m",
            ),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: [-1, 6] reshape { shape: [6] }"),
                "has different size for dims and reshape",
            ),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: [2, -1] reshape { shape: [2, -1, -1] }"),
                "has different number of variable-size dimensions for dims and reshape",
            ),
            (t("name: \"x\" data_type: TYPE_FP32 dims: [2, -1, 6] reshape { shape: [1, 2, -1, 3, 2] }"), ""),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: [2, -1, 6] reshape { shape: [4, -1, 3] }"),
                "has different size for dims and reshape",
            ),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: 1 reshape { shape: [0] }"),
                "reshape dimensions must be integer >= 1",
            ),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: 1 reshape { shape: [] }"),
                "model input 'x' cannot have empty reshape for non-batching model as scalar tensors are not supported for m",
            ),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: [3, 4] format: FORMAT_NCHW"),
                "model input NHWC/NCHW require 3 dims for m",
            ),
            (
                t("name: \"x\" data_type: TYPE_FP32 dims: 1 is_shape_tensor: true"),
                "shape tensors are only supported for TensorRT platform for m",
            ),
            ("max_batch_size: 0".into(), "Invalid model name: Could not determine backend for model 'm'"),
            (
                "platform: \"tensorrt_plan\" backend: \"onnxruntime\"".into(),
                "unexpected 'platform' and 'backend' pair, got:tensorrt_plan, onnxruntime",
            ),
            ("platform: \"foo\"".into(), "unexpected platform type 'foo' for m"),
            (
                "platform: \"ensemble\"".into(),
                "ensemble scheduling must be set for ensemble m whose platform is ensemble",
            ),
            (
                format!("{ONNX}ensemble_scheduling {{ step {{ model_name: \"a\" }} }}"),
                "ensemble scheduling cannot be set for model 'm' whose platform is not ensemble",
            ),
            ("platform: \"ensemble\" ensemble_scheduling { }".into(), "must specify 'step' for ensemble 'm'"),
            (
                "platform: \"ensemble\" backend: \"x\"".into(),
                "Ensemble model 'm' must have platform type 'ensemble' and empty backend type",
            ),
            (
                format!("{ONNX}max_batch_size: 8 dynamic_batching {{ preferred_batch_size: [16] }}"),
                "dynamic batching preferred size must be <= max batch size for m",
            ),
            (
                format!("{ONNX}instance_group {{ kind: KIND_CPU gpus: [0] }}"),
                "instance group m_0 of model m has kind KIND_CPU but specifies one or more GPUs",
            ),
            (
                format!("{ONNX}instance_group {{ kind: KIND_GPU gpus: [-1] }}"),
                "instance group m_0 of model m specifies invalid or unsupported gpu id -1.",
            ),
        ];
        let mut failures = Vec::new();
        for (text, want) in cases {
            match ModelConfig::parse(&text, Path::new("m/config.pbtxt"), "m") {
                Ok(_) if want.is_empty() => {}
                Ok(c) => failures.push(format!("{text:?}: accepted {c:?}, want {want:?}")),
                Err(Error::Config { message, model, .. }) => {
                    assert_eq!(model, "m");
                    if want.is_empty() || !message.contains(want) {
                        failures.push(format!("{text:?}:\n  got  {message:?}\n  want {want:?}"));
                    }
                }
                Err(e) => failures.push(format!("{text:?}: {e}")),
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
