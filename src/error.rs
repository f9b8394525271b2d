//! The crate's one error type. Each variant keeps the evidence: the file, the model, the tensor, what was
//! expected and what was found; the variants that cover many causes carry a `kind` for code to match
//! ([`ConfigErrorKind`], [`RepositoryErrorKind`], [`EnsembleErrorKind`], [`CudaErrorKind`]), the message is for
//! people, and the underlying library's error (ONNX Runtime's, cudarc's, the decoder's, the OS's) stays
//! reachable through [`std::error::Error::source`].
//!
//! # Example: tell a broken repository from a missing GPU
//! ```no_run
//! use clo_pipeline::{CudaErrorKind, Device, Error, Pipeline, RepositoryErrorKind};
//! match Pipeline::builder("onnx_model_repository").device(Device::Cuda(0)).build() {
//!     Ok(p) => println!("on {}", p.device().device),
//!     Err(Error::Repository { kind: RepositoryErrorKind::MissingModelFile, path, .. }) => {
//!         eprintln!("copy the model file to {}", path.display())
//!     }
//!     Err(Error::Cuda { kind: CudaErrorKind::Unavailable, message, .. }) => eprintln!("no usable GPU: {message}"),
//!     Err(e) => eprintln!("{e}"),
//! }
//! ```

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
        /// What kind of problem it is.
        kind: ConfigErrorKind,
        /// What is wrong.
        message: String,
    },
    /// The model repository's layout is wrong (missing folders, versions, files).
    #[error("model repository {path}: {message}")]
    Repository {
        /// The offending path.
        path: PathBuf,
        /// What kind of problem it is.
        kind: RepositoryErrorKind,
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
    /// The ensemble's steps do not form a valid execution plan, or not the CLO pipeline's.
    #[error("ensemble `{model}`: {message}")]
    Ensemble {
        /// The ensemble's name (or the step's model, where the error concerns one step).
        model: String,
        /// What kind of problem it is.
        kind: EnsembleErrorKind,
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
    /// What the ensemble input's values mean (its input convention: scale, offset, channel order) could not
    /// be settled from the repository's preprocessing and postprocessing models: no candidate encoding makes
    /// them match the native stages, or the two models disagree.
    #[error(
        "ensemble `{model}`: the input convention of `{tensor}` could not be settled: {message}\n\
         tried (max |model - native| on the probe frame):\n{}\nsettle it: {}",
        checks_text(checks),
        crate::convention::SETTLE_IT
    )]
    InputConvention {
        /// The ensemble.
        model: String,
        /// Its input tensor.
        tensor: String,
        /// What was found.
        message: String,
        /// Each candidate encoding as measured.
        checks: Vec<crate::convention::EncodingCheck>,
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
    #[error("CUDA: {message}{}", source.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
    Cuda {
        /// What kind of problem it is.
        kind: CudaErrorKind,
        /// What failed, with versions and paths where known.
        message: String,
        /// The error of the library call that failed (cudarc's `DriverError` or `NvrtcError`, or this crate's
        /// [`Error`] of the probe that failed), when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
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

fn checks_text(checks: &[crate::convention::EncodingCheck]) -> String {
    checks.iter().map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n")
}

/// What is wrong with a model configuration ([`Error::Config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A field has a value Triton would reject (an unknown data type, bad dims, a value of the wrong type, a
    /// name that differs from the folder's, a missing required field, ...).
    InvalidField,
    /// The platform or backend is not one this crate runs (ONNX Runtime models and ensembles).
    UnsupportedPlatform,
    /// An ensemble was given where a model with a model file is needed.
    NotAModel,
}

/// What is wrong with a model repository's layout ([`Error::Repository`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RepositoryErrorKind {
    /// The repository path cannot be opened (it does not exist, or is not readable) or is not a folder.
    NotAFolder,
    /// A model or file name is not one plain path component (empty, or with `/`, `\` or `..`).
    InvalidName,
    /// A model asked for (in the load list, or as the ensemble to run) is not in the repository or not loaded.
    ModelNotFound,
    /// No ensemble is loaded, or several are and none was named.
    EnsembleChoice,
    /// A model folder, config, version folder or model file resolves outside the repository's root.
    OutsideRoot,
    /// A model has no version folder, or not the one its version policy asks for.
    MissingVersion,
    /// A served version's model file is missing or is not a file.
    MissingModelFile,
}

/// What is wrong with an ensemble ([`Error::Ensemble`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnsembleErrorKind {
    /// A step runs a model that is not in the repository, or whose name is not a plain name.
    UnknownModel,
    /// A step asks for a version its model does not serve.
    VersionNotServed,
    /// The steps do not form a valid plan (any check of [`EnsemblePlan::build`](crate::EnsemblePlan::build):
    /// an unloaded model, an unmapped input, a tensor produced twice or by no one, a cycle, mismatched types).
    InvalidPlan,
    /// The ensemble is valid, but its wiring or shapes are not the CLO pipeline's (image → preprocess →
    /// detect; image + detections → postprocess → estimate; square letterbox and crop).
    NotClo,
    /// The crate's own bookkeeping failed (a session or mapping it should have, a worker thread that panicked):
    /// a bug to report.
    Internal,
}

/// What is wrong with the CUDA path ([`Error::Cuda`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CudaErrorKind {
    /// A GPU was asked for (`Device::Cuda(n)`) but this build has no CUDA path (the `cuda` feature is off).
    NotCompiled,
    /// A GPU was asked for (`Device::Cuda(n)`) but a probe failed: the message lists every probe, the source is
    /// the first failure.
    Unavailable,
    /// NVRTC could not be found or loaded.
    NvrtcNotFound,
    /// The NVIDIA driver's library (`libcuda`) could not be loaded.
    DriverNotFound,
    /// There is no GPU with the asked ordinal.
    NoGpu,
    /// An NVRTC call failed other than on the kernel source (those are [`Error::KernelCompile`]).
    Nvrtc,
    /// ONNX Runtime's CUDA provider library is missing or not usable with the loaded ONNX Runtime.
    ProviderNotFound,
    /// The driver rejected a compiled kernel module (typically CUBIN from an NVRTC newer than the driver).
    ModuleLoad,
    /// A driver call failed (context, stream, event, allocation, copy, launch); the source is cudarc's error.
    Driver,
    /// A device buffer is smaller than a kernel needs, or a size does not fit a kernel's arguments.
    BufferSize,
}

impl Error {
    /// An [`Error::Cuda`] without a source.
    pub(crate) fn cuda(kind: CudaErrorKind, message: impl Into<String>) -> Self {
        Error::Cuda { kind, message: message.into(), source: None }
    }

    /// An [`Error::Cuda`] caused by `source`.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn cuda_from(
        kind: CudaErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Cuda { kind, message: message.into(), source: Some(Box::new(source)) }
    }

    /// Wraps an `ort` error with the model it concerns.
    pub(crate) fn ort(model: impl Into<String>, source: ort::Error) -> Self {
        Error::Ort { model: model.into(), source }
    }

    /// Wraps an I/O error with its path.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn cuda_errors_say_what_failed_and_keep_their_source() {
        let e = Error::cuda_from(CudaErrorKind::Driver, "uploading the frame", std::io::Error::other("boom"));
        assert_eq!(e.to_string(), "CUDA: uploading the frame: boom");
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(matches!(e, Error::Cuda { kind: CudaErrorKind::Driver, .. }));
        let e = Error::cuda(CudaErrorKind::NoGpu, "no GPU with ordinal 3");
        assert_eq!(e.to_string(), "CUDA: no GPU with ordinal 3");
        assert!(std::error::Error::source(&e).is_none());
    }
}
