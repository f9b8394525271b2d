//! The estimator (the repository's `efficientnet_v2` step): the `S × S` crop in, the oil percentage out, one
//! value per frame. It is the repository's model on every path; what the crate adds is the check that it
//! gives one value per frame. [`cpu`] runs it on host tensors; on the GPU the worker binds the crop's device
//! buffer in place (`src/cuda/worker.rs`) and reads the one value back.

pub(crate) mod cpu;
