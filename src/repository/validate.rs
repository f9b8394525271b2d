//! Strict model config: checks a model's declared inputs and outputs against what its ONNX file declares
//! (Triton's `--strict-model-config=true`), without depending on ONNX Runtime: the caller describes the
//! file as a [`ModelSignature`] (for example from an `ort` session's inputs and outputs).
//!
//! The rules, after Triton's ONNX Runtime backend:
//!
//! - every config input exists among the file's inputs, and every file input is declared in the config
//!   (Triton requires the inputs to match; an input the config leaves out could never be fed);
//! - every config output exists among the file's outputs; the file may have more outputs;
//! - data types are equal;
//! - the shape the model sees ([`TensorConfig::shape`]: `reshape` when present, else `dims`, behind a
//!   `-1` batch dimension when `max_batch_size > 0`) has the file's rank;
//! - with `max_batch_size > 0` the file's leading dimension must be dynamic (`-1`), since batches of any
//!   size up to `max_batch_size` are sent (Triton's `CompareDimsSupported` rule);
//! - every other dimension is equal, where a `-1` on either side matches anything.
//!
//! Errors are [`Error::ModelMismatch`] with expected and found written like `TYPE_FP32 [1,3,640,640]`.

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
    let mismatch = |tensor: &str, expected: String, found: String| Error::ModelMismatch {
        path: model_file.to_path_buf(),
        model: config.name.clone(),
        tensor: tensor.to_string(),
        expected,
        found,
    };
    let names = |list: &[TensorSignature]| {
        let n: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
        if n.is_empty() { "none".to_string() } else { n.join(", ") }
    };

    for (kind, declared, actual) in [("input", &config.inputs, &sig.inputs), ("output", &config.outputs, &sig.outputs)]
    {
        for t in declared {
            let expected = declared_text(t, config.max_batch_size);
            let Some(found) = actual.iter().find(|s| s.name == t.name) else {
                return Err(mismatch(
                    &t.name,
                    format!("{kind} {expected}"),
                    format!("no such {kind} (the file's {kind}s: {})", names(actual)),
                ));
            };
            if !compatible(t, found, config.max_batch_size) {
                return Err(mismatch(&t.name, format!("{kind} {expected}"), format!("{kind} {found}")));
            }
        }
    }
    for s in &sig.inputs {
        if config.input(&s.name).is_none() {
            let declared: Vec<&str> = config.inputs.iter().map(|t| t.name.as_str()).collect();
            return Err(mismatch(
                &s.name,
                format!("only the inputs {}", if declared.is_empty() { "(none)".into() } else { declared.join(", ") }),
                format!("an undeclared input {s}"),
            ));
        }
    }
    tracing::debug!(model = %config.name, path = %model_file.display(), "model file matches its config");
    Ok(())
}

/// `TYPE_FP32 [-1,3,640,640]`: the type and the shape the model sees.
fn declared_text(t: &TensorConfig, max_batch_size: i64) -> String {
    format!("{} {}", t.data_type, shape_text(&t.shape(max_batch_size)))
}

fn compatible(t: &TensorConfig, found: &TensorSignature, max_batch_size: i64) -> bool {
    if t.data_type != found.data_type {
        return false;
    }
    let want = t.shape(max_batch_size);
    if want.len() != found.shape.len() {
        return false;
    }
    let mut pairs = want.iter().zip(&found.shape);
    if max_batch_size > 0 {
        // The batch dimension: the file's must be dynamic.
        match pairs.next() {
            Some((_, file)) if *file == -1 => {}
            _ => return false,
        }
    }
    pairs.all(|(w, f)| *w == -1 || *f == -1 || w == f)
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

    fn mismatch(r: Result<()>) -> (String, String, String) {
        match r {
            Err(Error::ModelMismatch { path, model, tensor, expected, found }) => {
                assert_eq!(path, Path::new("m/1/model.onnx"));
                assert_eq!(model, "m");
                (tensor, expected, found)
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn matching_signatures() {
        let e = entry(YOLO);
        let file = Path::new("m/1/model.onnx");
        validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640])], &[("det", F, &[1, 300, 6])])).unwrap();
        // Dynamic dims on either side, and extra outputs in the file.
        validate_model(
            &e,
            file,
            &sig(&[("images", F, &[-1, 3, -1, -1])], &[("det", F, &[1, -1, 6]), ("extra", F, &[1])]),
        )
        .unwrap();
        let dynamic = entry(&YOLO.replace("dims: [1, 3, 640, 640]", "dims: [1, 3, -1, -1]"));
        validate_model(&dynamic, file, &sig(&[("images", F, &[1, 3, 640, 640])], &[("det", F, &[1, 300, 6])])).unwrap();
    }

    #[test]
    fn mismatches() {
        let e = entry(YOLO);
        let file = Path::new("m/1/model.onnx");
        let out = [("det", F, &[1i64, 300, 6][..])];
        let (t, exp, found) =
            mismatch(validate_model(&e, file, &sig(&[("images", DataType::Fp16, &[1, 3, 640, 640])], &out)));
        assert_eq!(
            (t.as_str(), exp.as_str(), found.as_str()),
            ("images", "input TYPE_FP32 [1,3,640,640]", "input TYPE_FP16 [1,3,640,640]")
        );
        let (_, _, found) = mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640])], &out)));
        assert_eq!(found, "input TYPE_FP32 [1,3,640]");
        let (_, _, found) = mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 320, 320])], &out)));
        assert_eq!(found, "input TYPE_FP32 [1,3,320,320]");
        let (t, exp, found) = mismatch(validate_model(&e, file, &sig(&[("x", F, &[1, 3, 640, 640])], &out)));
        assert_eq!(t, "images");
        assert_eq!(exp, "input TYPE_FP32 [1,3,640,640]");
        assert_eq!(found, "no such input (the file's inputs: x)");
        let (t, _, found) =
            mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640])], &[("other", F, &[1])])));
        assert_eq!(t, "det");
        assert_eq!(found, "no such output (the file's outputs: other)");
        let (t, exp, found) =
            mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640]), ("scale", F, &[1])], &out)));
        assert_eq!(t, "scale");
        assert_eq!(exp, "only the inputs images");
        assert_eq!(found, "an undeclared input TYPE_FP32 [1]");
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
        let (_, exp, found) = mismatch(validate_model(&e, file, &sig(&[("images", F, &[1, 3, 640, 640])], &out)));
        assert_eq!(exp, "input TYPE_FP32 [-1,3,640,640]");
        assert_eq!(found, "input TYPE_FP32 [1,3,640,640]");
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
