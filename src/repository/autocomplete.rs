//! Triton's auto-completion of a model configuration.
//!
//! Two parts, as in Triton:
//!
//! - `complete_backend_fields` (core's `AutoCompleteBackendFields`) runs for every model, also with
//!   `--strict-model-config=true`: an empty `name` becomes the folder's name, and `platform`, `backend` and
//!   `default_model_filename` are filled from each other or, when none is given, from the files in the
//!   first version folder (`model.onnx` means ONNX Runtime, `model.plan` TensorRT, `model.py` Python, ...; a
//!   model named `name.backend` with nothing else uses that backend).
//! - `complete_from_model` (the ONNX Runtime backend's `AutoCompleteConfig`) runs only without strict
//!   model config (`LoadOptions::strict_model_config(false)`): when the config lacks inputs or outputs,
//!   they are read from the ONNX file. A model whose every input and output has a variable first dimension
//!   supports batching: its `max_batch_size` becomes Triton's default, 4, when the config gives none (0),
//!   and `dynamic_batching { }` is added when it is above 1 and no batcher is set; a model that does not
//!   support batching but is given a non-zero `max_batch_size` is an error. A completed tensor's dims are
//!   the file's shape without the batch dimension; a scalar gets `dims: [1]` (and `reshape { shape: [] }`
//!   when batching). A config that declares both inputs and outputs is left as it is.
//!
//! Completion edits the parsed tree (fields it adds have position 0:0), so the completed config is read and
//! checked like a written one.

use std::fs;
use std::path::Path;

use super::pbtxt::{Field, Message, Value};
use super::schema::View;
use super::validate::ModelSignature;

/// Triton's `default-max-batch-size` backend setting (its default, which the ONNX Runtime backend uses when
/// auto-completing a batching model).
pub const DEFAULT_MAX_BATCH_SIZE: i64 = 4;

/// What auto-completion reads from a model folder: its first version folder (by name, as Triton sorts
/// them) and the entries in it, each with whether it is a folder.
#[derive(Debug, Default, Clone)]
pub(crate) struct Folder {
    pub(crate) first_version: Option<(String, Vec<(String, bool)>)>,
}

impl Folder {
    /// Reads `model_dir` (errors reading it leave the facts empty; loading reports them later).
    pub(crate) fn read(model_dir: &Path) -> Folder {
        let mut subdirs: Vec<String> = fs::read_dir(model_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        subdirs.sort();
        let first_version = subdirs.into_iter().next().map(|v| {
            let entries = fs::read_dir(model_dir.join(&v))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let dir = e.path().is_dir();
                    e.file_name().into_string().ok().map(|n| (n, dir))
                })
                .collect();
            (v, entries)
        });
        Folder { first_version }
    }

    fn has_version(&self) -> bool {
        self.first_version.is_some()
    }

    /// Whether the first version folder holds `name` as a file (`Some(false)`), a folder (`Some(true)`).
    fn entry(&self, name: &str) -> Option<bool> {
        self.first_version.as_ref()?.1.iter().find(|(n, _)| n == name).map(|(_, d)| *d)
    }
}

fn str_field(name: &str, value: &str) -> Field {
    Field { name: name.to_string(), value: Value::Str(value.to_string()), line: 0, col: 0, in_list: false }
}

/// Sets the singular field `name` of `msg` (removing earlier occurrences).
fn set(msg: &mut Message, field: Field) {
    msg.fields.retain(|f| f.name != field.name);
    msg.fields.push(field);
}

/// Triton's `AutoCompleteBackendFields` on a parsed config of the model folder `model_name`.
pub(crate) fn complete_backend_fields(tree: &mut Message, model_name: &str, folder: &Folder) -> Result<(), String> {
    let view = View::of(tree);
    let mut name = view.str("name").to_string();
    let mut platform = view.str("platform").to_string();
    let mut backend = view.str("backend").to_string();
    let mut file = view.str("default_model_filename").to_string();
    let before = (name.clone(), platform.clone(), backend.clone(), file.clone());
    if name.is_empty() {
        name = model_name.to_string();
    }
    let result = complete(&mut platform, &mut backend, &mut file, model_name, folder);
    for (field, old, new) in [
        ("name", &before.0, &name),
        ("platform", &before.1, &platform),
        ("backend", &before.2, &backend),
        ("default_model_filename", &before.3, &file),
    ] {
        if old != new {
            set(tree, str_field(field, new));
        }
    }
    result
}

fn complete(
    platform: &mut String,
    backend: &mut String,
    file: &mut String,
    model_name: &str,
    folder: &Folder,
) -> Result<(), String> {
    let set_if_empty = |s: &mut String, v: &str| {
        if s.is_empty() {
            *s = v.to_string();
        }
    };
    let bare = |platform: &str, file: &str| platform.is_empty() && file.is_empty() && folder.has_version();

    // TensorFlow: the platform is required, and found from the file name or the version folder.
    if platform.is_empty() && (backend.is_empty() || backend == "tensorflow") {
        if file == "model.savedmodel" {
            *platform = "tensorflow_savedmodel".into();
        } else if file == "model.graphdef" {
            *platform = "tensorflow_graphdef".into();
        } else if file.is_empty() && folder.has_version() {
            if folder.entry("model.savedmodel") == Some(true) {
                *platform = "tensorflow_savedmodel".into();
            }
            if folder.entry("model.graphdef") == Some(false) {
                *platform = "tensorflow_graphdef".into();
            }
        }
    }
    if platform == "tensorflow_savedmodel" || platform == "tensorflow_graphdef" {
        set_if_empty(backend, "tensorflow");
        let f = if platform == "tensorflow_savedmodel" { "model.savedmodel" } else { "model.graphdef" };
        set_if_empty(file, f);
        return Ok(());
    }

    // TensorRT
    if backend.is_empty()
        && (platform == "tensorrt_plan"
            || file == "model.plan"
            || (bare(platform, file) && folder.entry("model.plan") == Some(false)))
    {
        *backend = "tensorrt".into();
    }
    if backend == "tensorrt" {
        set_if_empty(platform, "tensorrt_plan");
        set_if_empty(file, "model.plan");
        return Ok(());
    }

    // ONNX Runtime (a model.onnx may be a file or, for a large model, a folder)
    if backend.is_empty()
        && (platform == "onnxruntime_onnx"
            || file == "model.onnx"
            || (bare(platform, file) && folder.entry("model.onnx").is_some()))
    {
        *backend = "onnxruntime".into();
    }
    if backend == "onnxruntime" {
        set_if_empty(platform, "onnxruntime_onnx");
        set_if_empty(file, "model.onnx");
        return Ok(());
    }

    // OpenVINO
    if backend.is_empty() && (file == "model.xml" || (bare(platform, file) && folder.entry("model.xml").is_some())) {
        *backend = "openvino".into();
    }
    if backend == "openvino" {
        set_if_empty(file, "model.xml");
        return Ok(());
    }

    // PyTorch (TorchScript and AOTInductor share the backend name "pytorch")
    if backend.is_empty() {
        // TorchScript (`libtorch` too) and AOTInductor.
        let named = ["pytorch_libtorch", "libtorch", "torch_aoti"].contains(&platform.as_str());
        if named || file == "model.pt" || file == "model.pt2" {
            *backend = "pytorch".into();
        } else if bare(platform, file) {
            if folder.entry("model.pt") == Some(false) {
                *backend = "pytorch".into();
                *platform = "pytorch_libtorch".into();
            } else if folder.entry("model.pt2") == Some(false) {
                *backend = "pytorch".into();
                *platform = "torch_aoti".into();
            }
        }
    }
    if backend == "pytorch" {
        if platform.is_empty() {
            *platform = "pytorch_libtorch".into();
            set_if_empty(file, "model.pt");
        } else if platform == "torch_aoti" {
            set_if_empty(file, "model.pt2");
        }
        return Ok(());
    }

    // Python
    if backend.is_empty() && (file == "model.py" || (bare(platform, file) && folder.entry("model.py").is_some())) {
        *backend = "python".into();
    }
    if backend == "python" {
        set_if_empty(file, "model.py");
        return Ok(());
    }

    // A custom backend, named by the model's name `model.<backend>`.
    if backend.is_empty() && platform.is_empty() && file.is_empty() {
        let Some((_, custom)) = model_name.split_once('.') else {
            return Err(format!(
                "Invalid model name: Could not determine backend for model '{model_name}' with no backend in \
                 model configuration. Expected model name of the form 'model.<backend_name>'."
            ));
        };
        *backend = custom.to_string();
        *file = format!("model.{custom}");
    }
    Ok(())
}

/// Whether the ONNX Runtime backend would auto-complete this config from the model file: it lacks inputs
/// (counting batch inputs) or outputs.
pub(crate) fn needs_model(tree: &Message) -> bool {
    let v = View::of(tree);
    v.count("input") + v.count("batch_input") == 0 || v.count("output") == 0
}

/// The ONNX Runtime backend's `AutoCompleteConfig` from the model file's signature. Returns Triton's
/// warnings (an auto-filled `max_batch_size`), or Triton's error.
pub(crate) fn complete_from_model(
    tree: &mut Message,
    sig: &ModelSignature,
    default_max_batch_size: i64,
) -> Result<Vec<String>, String> {
    let view = View::of(tree);
    let name = view.str("name").to_string();
    let no_inputs = view.count("input") + view.count("batch_input") == 0;
    let no_outputs = view.count("output") == 0;
    if !no_inputs && !no_outputs {
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    let mut max_batch_size = view.int("max_batch_size");
    let batching = sig.inputs.iter().chain(&sig.outputs).all(|t| t.shape.first() == Some(&-1));
    if batching {
        if max_batch_size == 0 {
            max_batch_size = default_max_batch_size.max(0);
            set(
                tree,
                Field {
                    name: "max_batch_size".into(),
                    value: Value::Int(max_batch_size),
                    line: 0,
                    col: 0,
                    in_list: false,
                },
            );
            warnings.push(format!(
                "autofilled max_batch_size to {max_batch_size} for model '{name}' since batching is supported but \
                 no max_batch_size is specified in model configuration. Must specify max_batch_size to utilize \
                 autofill with a larger max batch size"
            ));
        }
        let view = View::of(tree);
        if max_batch_size > 1 && !view.has("sequence_batching") && !view.has("dynamic_batching") {
            tree.fields.push(Field {
                name: "dynamic_batching".into(),
                value: Value::Message(Message::default()),
                line: 0,
                col: 0,
                in_list: false,
            });
        }
    } else if max_batch_size != 0 {
        return Err(format!(
            "autofill failed for model '{name}': model does not support batching while non-zero max_batch_size \
             is specified"
        ));
    }
    for (kind, list, missing) in [("input", &sig.inputs, no_inputs), ("output", &sig.outputs, no_outputs)] {
        if !missing {
            continue;
        }
        for t in list {
            let skip = usize::from(max_batch_size > 0);
            let mut dims: Vec<i64> = t.shape.iter().skip(skip).copied().collect();
            let mut body = Message::default();
            body.fields.push(str_field("name", &t.name));
            body.fields.push(Field {
                name: "data_type".into(),
                value: Value::Ident(t.data_type.as_triton().to_string()),
                line: 0,
                col: 0,
                in_list: false,
            });
            let scalar = dims.is_empty();
            if scalar {
                dims.push(1);
            }
            for d in dims {
                body.fields.push(Field { name: "dims".into(), value: Value::Int(d), line: 0, col: 0, in_list: true });
            }
            if scalar && max_batch_size > 0 {
                body.fields.push(Field {
                    name: "reshape".into(),
                    value: Value::Message(Message::default()),
                    line: 0,
                    col: 0,
                    in_list: false,
                });
            }
            tree.fields.push(Field { name: kind.into(), value: Value::Message(body), line: 0, col: 0, in_list: false });
        }
    }
    Ok(warnings)
}
