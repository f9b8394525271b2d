//! The Triton model repository: config.pbtxt parsing, versions, and validation against the ONNX files.

pub mod config;
pub mod pbtxt;
