//! Strict model config: checks a model's declared inputs and outputs against what its ONNX file declares,
//! as Triton's ONNX Runtime backend does when it loads the model (`ValidateInputs`, `ValidateOutputs`,
//! `CompareDimsSupported` in triton-inference-server/onnxruntime_backend, checked against its source of
//! 2026-06), without depending on ONNX Runtime: the caller describes the file as a [`ModelSignature`] (for
//! example with [`Runtime::signature`](crate::runtime::Runtime::signature)).
//!
//! The rules, in the backend's order:
//!
//! - the file has as many inputs as the config declares, optional inputs (overridable initializers)
//!   aside, plus the batch inputs, sequence controls and states the config asks Triton to feed;
//! - every config input is among the file's inputs (an optional input may be an initializer, which a
//!   signature does not list) and an optional input is not allowed in a batching model;
//! - data types are equal;
//! - the shape the model sees ([`TensorConfig::shape`]: `reshape` when present, else `dims`, behind a
//!   `-1` batch dimension when `max_batch_size > 0`) has the file's rank; with `max_batch_size > 0` the
//!   file's first dimension must be `-1`; for an input, a `-1` in the file matches any config dim, for an
//!   output every dim must be equal (a dynamic output dim is declared `-1`); a scalar in the file (no
//!   dims) is declared as dims of 1;
//! - every config output is among the file's outputs; the file may have more outputs.
//!
//! Errors are [`Error::ModelMismatch`] with expected and found written like `TYPE_FP32 [1,3,640,640]`, and
//! Triton's own message at the end of `found`.

use std::fmt;
use std::path::Path;

use super::ModelEntry;
use super::config::{DataType, TensorConfig, shape_text};
use crate::error::{ConfigErrorKind, Error, Result};

/// One input or output as the model file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSignature {
    /// The tensor's name.
    pub name: String,
    /// Its element type.
    pub data_type: DataType,
    /// Its shape; `-1` for a dynamic or symbolic dimension.
    pub shape: Vec<i64>,
}

impl fmt::Display for TensorSignature {
    /// `TYPE_FP32 [1,3,640,640]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.data_type, shape_text(&self.shape))
    }
}

/// The inputs and outputs a model file declares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelSignature {
    /// The inputs, in the file's order.
    pub inputs: Vec<TensorSignature>,
    /// The outputs, in the file's order.
    pub outputs: Vec<TensorSignature>,
}

/// Checks `entry`'s config against `sig`, the signature of its model file `model_file` (named in errors).
///
/// An ensemble has no model file: validating one is an [`Error::Config`].
pub fn validate_model(entry: &ModelEntry, model_file: &Path, sig: &ModelSignature) -> Result<()> {
    let config = &entry.config;
    if config.is_ensemble() {
        return Err(Error::Config {
            path: entry.config_path.clone(),
            model: config.name.clone(),
            kind: ConfigErrorKind::NotAModel,
            message: "an ensemble has no model file to validate".to_string(),
        });
    }
    let name = config.name.as_str();
    let mbs = config.max_batch_size;
    let mismatch = |tensor: &str, expected: String, found: String, triton: String| Error::ModelMismatch {
        path: model_file.to_path_buf(),
        model: name.to_string(),
        tensor: tensor.to_string(),
        expected,
        found: format!("{found} (Triton: {triton})"),
    };
    let names = |list: &[TensorSignature]| -> String {
        let mut n: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
        n.sort_unstable();
        n.join(", ")
    };

    // Inputs.
    let expected_count = config.inputs.iter().filter(|t| !t.optional).count() + config.implicit_inputs;
    if sig.inputs.len() != expected_count {
        let extra = sig.inputs.iter().find(|s| config.input(&s.name).is_none());
        let missing = config.inputs.iter().find(|t| !t.optional && !sig.inputs.iter().any(|s| s.name == t.name));
        let tensor = extra.map(|s| s.name.as_str()).or(missing.map(|t| t.name.as_str())).unwrap_or("");
        let declared: Vec<&str> = config.inputs.iter().map(|t| t.name.as_str()).collect();
        return Err(mismatch(
            tensor,
            format!(
                "{expected_count} inputs ({})",
                if declared.is_empty() { "none".into() } else { declared.join(", ") }
            ),
            format!("{} inputs ({})", sig.inputs.len(), names(&sig.inputs)),
            format!(
                "unable to load model '{name}', configuration expects {expected_count} inputs, model provides {}",
                sig.inputs.len()
            ),
        ));
    }
    for t in &config.inputs {
        if t.optional && mbs != 0 {
            return Err(mismatch(
                &t.name,
                format!("optional input {}", declared_text(t, mbs)),
                "a model that batches".to_string(),
                format!(
                    "unable to load model '{name}', optional input '{}' is not supported for models that support batching",
                    t.name
                ),
            ));
        }
        let Some(found) = sig.inputs.iter().find(|s| s.name == t.name) else {
            if t.optional {
                // An optional input may be an overridable initializer, which the signature does not list.
                tracing::debug!(model = name, input = %t.name, "optional input not among the file's inputs");
                continue;
            }
            return Err(mismatch(
                &t.name,
                format!("input {}", declared_text(t, mbs)),
                format!("no such input (the file's inputs: {})", names(&sig.inputs)),
                format!("unexpected inference input '{}', allowed inputs are: {}", t.name, names(&sig.inputs)),
            ));
        };
        compare(t, found, mbs, "input", false, name).map_err(|triton| {
            mismatch(&t.name, format!("input {}", declared_text(t, mbs)), format!("input {found}"), triton)
        })?;
    }

    // Outputs.
    for t in &config.outputs {
        let Some(found) = sig.outputs.iter().find(|s| s.name == t.name) else {
            return Err(mismatch(
                &t.name,
                format!("output {}", declared_text(t, mbs)),
                format!("no such output (the file's outputs: {})", names(&sig.outputs)),
                format!("unexpected inference output '{}', allowed outputs are: {}", t.name, names(&sig.outputs)),
            ));
        };
        compare(t, found, mbs, "output", true, name).map_err(|triton| {
            mismatch(&t.name, format!("output {}", declared_text(t, mbs)), format!("output {found}"), triton)
        })?;
    }
    tracing::debug!(model = %config.name, path = %model_file.display(), "model file matches its config");
    Ok(())
}

/// `TYPE_FP32 [-1,3,640,640]`: the type and the shape the model sees.
fn declared_text(t: &TensorConfig, max_batch_size: i64) -> String {
    format!("{} {}", t.data_type, shape_text(&t.shape(max_batch_size)))
}

/// The data type and the backend's `CompareDimsSupported`; `Err` is Triton's message.
fn compare(
    t: &TensorConfig,
    found: &TensorSignature,
    mbs: i64,
    kind: &str,
    exact: bool,
    model: &str,
) -> std::result::Result<(), String> {
    if t.data_type != found.data_type {
        return Err(format!(
            "unable to load model '{model}', configuration expects datatype {} for {kind} '{}', model provides {}",
            t.data_type, t.name, found.data_type
        ));
    }
    let dims = t.reshape.as_deref().unwrap_or(&t.dims);
    let file = &found.shape;
    if file.is_empty() {
        // A scalar in the file: only dims of 1 describe it.
        if dims.iter().any(|d| *d != 1) {
            return Err(format!(
                "unable to load model '{model}', scalar tensor '{}', should only provide 1 in the model configuration \
                 when the model doesn't support batching. Model configuration provided: {}.",
                t.name,
                shape_text(dims)
            ));
        }
        return Ok(());
    }
    let matches =
        |full: &[i64]| file.len() == full.len() && file.iter().zip(full).all(|(m, c)| (!exact && *m == -1) || m == c);
    if mbs > 0 {
        if file.first() != Some(&-1) {
            return Err(format!(
                "model '{model}', tensor '{}': for the model to support batching the shape should have at least 1 \
                 dimension and the first dimension must be -1; but shape expected by the model is {}",
                t.name,
                shape_text(file)
            ));
        }
        let mut full = vec![-1];
        full.extend_from_slice(dims);
        if !matches(&full) {
            return Err(format!(
                "model '{model}', tensor '{}': the model expects {} dimensions (shape {}) but the model configuration \
                 specifies {} dimensions (an initial batch dimension because max_batch_size > 0 followed by the \
                 explicit tensor shape, making complete shape {})",
                t.name,
                file.len(),
                shape_text(file),
                full.len(),
                shape_text(&full)
            ));
        }
    } else if !matches(dims) {
        return Err(format!(
            "model '{model}', tensor '{}': the model expects {} dimensions (shape {}) but the model configuration \
             specifies {} dimensions (shape {})",
            t.name,
            file.len(),
            shape_text(file),
            dims.len(),
            shape_text(dims)
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::repository::config::ModelConfig;
    use std::path::PathBuf;

    fn entry(text: &str) -> ModelEntry {
        let config = ModelConfig::parse(text, Path::new("m/config.pbtxt"), "m").unwrap();
        ModelEntry { config, dir: PathBuf::from("m"), config_path: PathBuf::from("m/config.pbtxt"), versions: vec![1] }
    }

    fn sig(inputs: &[(&str, DataType, &[i64])], outputs: &[(&str, DataType, &[i64])]) -> ModelSignature {
        let conv = |l: &[(&str, DataType, &[i64])]| {
            l.iter()
                .map(|(n, t, s)| TensorSignature { name: n.to_string(), data_type: *t, shape: s.to_vec() })
                .collect()
        };
        ModelSignature { inputs: conv(inputs), outputs: conv(outputs) }
    }

    const YOLO: &str = r#"platform: "onnxruntime_onnx"
input { name: "images" data_type: TYPE_FP32 dims: [1, 3, 640, 640] }
output { name: "det" data_type: TYPE_FP32 dims: [1, 300, 6] }"#;

    const F: DataType = DataType::Fp32;

    /// The mismatch's tensor, expected and found (without Triton's message, which is returned third).
    fn mismatch(r: Result<()>) -> (String, String, String) {
        let (t, e, f, _) = mismatch_triton(r);
        (t, e, f)
    }

    fn mismatch_triton(r: Result<()>) -> (String, String, String, String) {
        match r {
            Err(Error::ModelMismatch { path, model, tensor, expected, found }) => {
                assert_eq!(path, Path::new("m/1/model.onnx"));
                assert_eq!(model, "m");
                let (ours, triton) = found.split_once(" (Triton: ").expect("Triton's message");
                (tensor, expected, ours.to_string(), triton.strip_suffix(')').unwrap_or(triton).to_string())
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn matching_signatures() {
        let e = entry(YOLO);
        let file = Path::new("m/1/model.onnx");
        validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640])], &[("det", F, &[1, 300, 6])])).unwrap();
        // Triton's rule: a dynamic input dim in the file takes any config dim; extra outputs in the file are fine.
        validate_model(
            &e,
            file,
            &sig(&[("images", F, &[-1, 3, -1, -1])], &[("det", F, &[1, 300, 6]), ("extra", F, &[1])]),
        )
        .unwrap();
        // A dynamic output dim must be declared -1 (outputs compare exactly), and a config -1 needs the file's -1.
        let (t, _, _, triton) = mismatch_triton(validate_model(
            &e,
            file,
            &sig(&[("images", F, &[1, 3, 640, 640])], &[("det", F, &[1, -1, 6])]),
        ));
        assert_eq!(t, "det");
        assert_eq!(
            triton,
            "model 'm', tensor 'det': the model expects 3 dimensions (shape [1,-1,6]) but the model configuration \
             specifies 3 dimensions (shape [1,300,6])"
        );
        let dynamic = entry(&YOLO.replace("dims: [1, 300, 6]", "dims: [1, -1, 6]"));
        validate_model(&dynamic, file, &sig(&[("images", F, &[1, 3, 640, 640])], &[("det", F, &[1, -1, 6])])).unwrap();
        let dynamic = entry(&YOLO.replace("dims: [1, 3, 640, 640]", "dims: [1, 3, -1, -1]"));
        mismatch(validate_model(
            &dynamic,
            file,
            &sig(&[("images", F, &[1, 3, 640, 640])], &[("det", F, &[1, 300, 6])]),
        ));
    }

    #[test]
    fn mismatches() {
        let e = entry(YOLO);
        let file = Path::new("m/1/model.onnx");
        let out = [("det", F, &[1i64, 300, 6][..])];
        let (t, exp, found, triton) =
            mismatch_triton(validate_model(&e, file, &sig(&[("images", DataType::Fp16, &[1, 3, 640, 640])], &out)));
        assert_eq!(
            (t.as_str(), exp.as_str(), found.as_str()),
            ("images", "input TYPE_FP32 [1,3,640,640]", "input TYPE_FP16 [1,3,640,640]")
        );
        assert_eq!(
            triton,
            "unable to load model 'm', configuration expects datatype TYPE_FP32 for input 'images', model provides TYPE_FP16"
        );
        let (_, _, found) = mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640])], &out)));
        assert_eq!(found, "input TYPE_FP32 [1,3,640]");
        let (_, _, found) = mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 320, 320])], &out)));
        assert_eq!(found, "input TYPE_FP32 [1,3,320,320]");
        let (t, exp, found, triton) =
            mismatch_triton(validate_model(&e, file, &sig(&[("x", F, &[1, 3, 640, 640])], &out)));
        assert_eq!(t, "images");
        assert_eq!(exp, "input TYPE_FP32 [1,3,640,640]");
        assert_eq!(found, "no such input (the file's inputs: x)");
        assert_eq!(triton, "unexpected inference input 'images', allowed inputs are: x");
        let (t, _, found) =
            mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640])], &[("other", F, &[1])])));
        assert_eq!(t, "det");
        assert_eq!(found, "no such output (the file's outputs: other)");
        let (t, exp, found, triton) = mismatch_triton(validate_model(
            &e,
            file,
            &sig(&[("images", F, &[1, 3, 640, 640]), ("scale", F, &[1])], &out),
        ));
        assert_eq!(t, "scale");
        assert_eq!(exp, "1 inputs (images)");
        assert_eq!(found, "2 inputs (images, scale)");
        assert_eq!(triton, "unable to load model 'm', configuration expects 1 inputs, model provides 2");
        let (_, _, found) =
            mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640])], &[("det", F, &[1, 300, 7])])));
        assert_eq!(found, "output TYPE_FP32 [1,300,7]");
    }

    #[test]
    fn batching_needs_a_dynamic_leading_dim() {
        let e = entry(&format!(
            "max_batch_size: 8\n{}",
            YOLO.replace("[1, 3, 640, 640]", "[3, 640, 640]").replace("[1, 300, 6]", "[300, 6]")
        ));
        let file = Path::new("m/1/model.onnx");
        let out = [("det", F, &[-1i64, 300, 6][..])];
        validate_model(&e, file, &sig(&[("images", F, &[-1, 3, 640, 640])], &out)).unwrap();
        let (_, exp, found, triton) =
            mismatch_triton(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640])], &out)));
        assert_eq!(exp, "input TYPE_FP32 [-1,3,640,640]");
        assert_eq!(found, "input TYPE_FP32 [1,3,640,640]");
        assert!(triton.contains("the first dimension must be -1"), "{triton}");
        // Rank counts the batch dimension.
        mismatch(validate_model(&e, file, &sig(&[("images", F, &[3, 640, 640])], &out)));
    }

    #[test]
    fn reshape_is_what_the_model_sees() {
        let e = entry(
            r#"platform: "onnxruntime_onnx" max_batch_size: 4
input { name: "x" data_type: TYPE_FP32 dims: [2, 6] reshape { shape: [12] } }
output { name: "y" data_type: TYPE_INT64 dims: [1] reshape { shape: [] } }"#,
        );
        let file = Path::new("m/1/model.onnx");
        validate_model(&e, file, &sig(&[("x", F, &[-1, 12])], &[("y", DataType::Int64, &[-1])])).unwrap();
        let (_, exp, _) =
            mismatch(validate_model(&e, file, &sig(&[("x", F, &[-1, 2, 6])], &[("y", DataType::Int64, &[-1])])));
        assert_eq!(exp, "input TYPE_FP32 [-1,12]");
    }

    #[test]
    fn ensembles_have_no_file() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/configs/ensemble.pbtxt"))
                .unwrap();
        let config = ModelConfig::parse(&text, Path::new("ensemble/config.pbtxt"), "ensemble").unwrap();
        let e = ModelEntry { config, dir: "e".into(), config_path: "e/config.pbtxt".into(), versions: vec![1] };
        assert!(matches!(validate_model(&e, Path::new("x"), &ModelSignature::default()), Err(Error::Config { .. })));
    }
}
