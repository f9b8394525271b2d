#![doc = include_str!("../README.md")]
#![deny(missing_docs, clippy::undocumented_unsafe_blocks)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod convention;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod decode;
pub mod device;
pub mod ensemble;
mod error;
mod pipeline;
mod pool;
pub mod repository;
pub mod runtime;
pub mod stages;
mod tensor;

pub use convention::{ChannelOrder, EncodingCheck, InputConvention, InputEncoding};
pub use decode::{DecodeOptions, decode_image, decode_image_bytes};
pub use device::{CudaStats, Device, DeviceInfo};
pub use ensemble::{Ensemble, EnsemblePlan};
pub use error::{ConfigErrorKind, CudaErrorKind, EnsembleErrorKind, Error, RepositoryErrorKind, Result};
pub use pipeline::{
    BuildReport, EncodingDecision, Inference, NetworkRuns, ParityReport, Pipeline, PipelineBuilder, StageDecision,
    StageMode, StageTimings,
};
pub use runtime::{OptimizationLevel, RuntimeOptions};
pub use stages::Geometry;
pub use stages::resize::FrameResize;
pub use stages::select::{Degenerate, Detection};
pub use tensor::Tensor;

/// The `image` crate this crate takes frames from (re-exported so that versions match).
pub use image;
/// The `ndarray` crate this crate's tensors use (re-exported so that versions match).
pub use ndarray;
