#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "cuda")]
pub mod cuda;
mod error;
pub mod ops;
pub mod repository;

pub use error::{Error, Result};
