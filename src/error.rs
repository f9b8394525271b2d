//! The crate's one error type. Each variant keeps the evidence: the file, the model, the tensor, what was
//! expected and what was found.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `clo-pipeline`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `config.pbtxt` could not be parsed: `file:line:col: what was expected`.
    #[error("{path}:{line}:{col}: {message}")]
    ConfigSyntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What was expected, and what was found.
        message: String,
    },
    /// A model configuration parsed but is not valid (unknown data type, bad dims, ...).
    #[error("{path}: model `{model}`: {message}")]
    Config {
        /// The config file (or the model folder when the config is missing).
        path: PathBuf,
        /// The model's name.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// The model repository's layout is wrong (missing folders, versions, files).
    #[error("model repository {path}: {message}")]
    Repository {
        /// The offending path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model's declared input or output does not match its ONNX file (strict model config).
    #[error("model `{model}` ({path}): tensor `{tensor}`: config declares {expected}, the ONNX file has {found}")]
    ModelMismatch {
        /// The ONNX file.
        path: PathBuf,
        /// The model's name.
        model: String,
        /// The tensor's name.
        tensor: String,
        /// What the config declares.
        expected: String,
        /// What the ONNX file has.
        found: String,
    },
    /// The ensemble's steps do not form a valid execution plan.
    #[error("ensemble `{model}`: {message}")]
    Ensemble {
        /// The ensemble's name.
        model: String,
        /// What is wrong (cycle, unknown model, unmapped or doubly produced tensor, ...).
        message: String,
    },
    /// A tensor given to or produced by a model has the wrong name, type or shape.
    #[error("model `{model}`: tensor `{tensor}`: expected {expected}, got {found}")]
    Tensor {
        /// The model that takes or produced it.
        model: String,
        /// The tensor's name.
        tensor: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// ONNX Runtime's shared library could not be found or loaded.
    #[error("ONNX Runtime could not be loaded; tried:\n{tried}\nfix: {fix}")]
    RuntimeNotFound {
        /// Every place tried, one per line, each with why it failed.
        tried: String,
        /// The command that fixes it.
        fix: String,
    },
    /// ONNX Runtime returned an error for a model.
    #[error("ONNX Runtime, model `{model}`: {source}")]
    Ort {
        /// The model involved (or `-` when none is).
        model: String,
        /// The error from `ort`.
        #[source]
        source: ort::Error,
    },
    /// An input image is unusable (decode failure, empty, unsupported layout).
    #[error("input image{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Image {
        /// The image file, when it came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        message: String,
        /// The decoder's error, when there is one.
        #[source]
        source: Option<image::ImageError>,
    },
    /// A parameter given to the builder or a stage is invalid.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it is invalid.
        message: String,
    },
    /// The CUDA device, driver or NVRTC cannot be used.
    #[error("CUDA: {message}")]
    Cuda {
        /// What failed, with versions and paths where known.
        message: String,
    },
    /// A CUDA kernel failed to compile with NVRTC.
    #[error("kernel `{kernel}` failed to compile with NVRTC:\n{log}")]
    KernelCompile {
        /// The kernel source file.
        kernel: String,
        /// NVRTC's compile log.
        log: String,
    },
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an `ort` error with the model it concerns.
    pub(crate) fn ort(model: impl Into<String>, source: ort::Error) -> Self {
        Error::Ort { model: model.into(), source }
    }

    /// Wraps an I/O error with its path.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
