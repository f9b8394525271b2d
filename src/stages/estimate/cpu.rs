//! The estimator on host tensors (ONNX Runtime's CPU provider), one frame or a batch per run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use ort::session::Session;

use crate::ensemble::StepNames;
use crate::tensor::view;
use crate::{Error, Result};

/// Runs the estimator `r` (counting the run in `runs`) on one crop (`crop`, `[1, 3, S, S]` with `S = side`, fed to the model input that
/// reads the ensemble tensor `input`): the oil percentage.
pub(crate) fn estimate(
    sessions: &mut HashMap<String, Session>,
    r: &StepNames,
    runs: &AtomicU64,
    input: &str,
    crop: &[f32],
    side: usize,
) -> Result<f32> {
    let value = view(&r.model, crop, [1, 3, side, side])?;
    runs.fetch_add(1, Ordering::Relaxed);
    let out = r.run(sessions, vec![(r.input_name(input)?, value)])?;
    let (_, data) = out.try_extract_tensor::<f32>().map_err(|e| Error::ort(&r.model, e))?;
    match data {
        [v] => Ok(*v),
        other => Err(Error::Tensor {
            model: r.model.clone(),
            tensor: r.output.clone(),
            expected: "one value (the oil percentage)".to_string(),
            found: format!("{} values", other.len()),
        }),
    }
}

/// One estimator run on `k` crops (`input`, `[k, 3, S, S]`): one value per frame.
pub(crate) fn estimate_batch(
    sessions: &mut HashMap<String, Session>,
    r: &StepNames,
    runs: &AtomicU64,
    input_tensor: &str,
    input: &[f32],
    k: usize,
    side: usize,
) -> Result<Vec<f32>> {
    let value = view(&r.model, input, [k, 3, side, side])?;
    runs.fetch_add(1, Ordering::Relaxed);
    let out = r.run(sessions, vec![(r.input_name(input_tensor)?, value)])?;
    let (_, data) = out.try_extract_tensor::<f32>().map_err(|e| Error::ort(&r.model, e))?;
    if data.len() != k {
        return Err(Error::Tensor {
            model: r.model.clone(),
            tensor: r.output.clone(),
            expected: format!("{k} values (one oil percentage per frame)"),
            found: format!("{} values", data.len()),
        });
    }
    Ok(data.to_vec())
}
