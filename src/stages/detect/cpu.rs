//! The detector on host tensors (ONNX Runtime's CPU provider), one frame or a batch per run.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use ort::session::Session;

use super::fits_declared;
use crate::ensemble::StepNames;
use crate::tensor::view;
use crate::{Error, Result};

/// Runs the detector `r` (counting the run in `runs`) on one letterbox (`letterbox`, `[1, 3, T, T]` with `T = side`, fed to the model input
/// that reads the ensemble tensor `input`); its rows (flattened, 6 per row) replace `dets`. `declared`: the
/// output's shape in the model's config.
#[allow(clippy::too_many_arguments)]
pub(crate) fn detect(
    sessions: &mut HashMap<String, Session>,
    r: &StepNames,
    runs: &AtomicU64,
    input: &str,
    letterbox: &[f32],
    side: usize,
    declared: Option<&[i64]>,
    dets: &mut Vec<f32>,
) -> Result<()> {
    let value = view(&r.model, letterbox, [1, 3, side, side])?;
    runs.fetch_add(1, Ordering::Relaxed);
    let out = r.run(sessions, vec![(r.input_name(input)?, value)])?;
    let (shape, data) = out.try_extract_tensor::<f32>().map_err(|e| Error::ort(&r.model, e))?;
    // The load-time check lets a dynamic dim in the file match the config's; the real shape is only known
    // now, and it must still be the config's (or the postprocessing model would get what it cannot take).
    if shape.last() != Some(&6) || !fits_declared(declared, shape) {
        return Err(Error::Tensor {
            model: r.model.clone(),
            tensor: r.output.clone(),
            expected: format!(
                "rows of 6 values (x1, y1, x2, y2, score, class){}",
                declared.map(|d| format!(", shape {d:?} as its config declares")).unwrap_or_default()
            ),
            found: format!("shape {:?}", &shape[..]),
        });
    }
    dets.clear();
    dets.extend_from_slice(data);
    Ok(())
}

/// One detector run on `k` letterboxes (`input`, `[k, 3, T, T]`); appends the rows to `dets` and returns
/// each frame's range in it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn detect_batch(
    sessions: &mut HashMap<String, Session>,
    r: &StepNames,
    runs: &AtomicU64,
    input_tensor: &str,
    input: &[f32],
    k: usize,
    side: usize,
    declared: Option<&[i64]>,
    dets: &mut Vec<f32>,
) -> Result<Vec<Range<usize>>> {
    let value = view(&r.model, input, [k, 3, side, side])?;
    runs.fetch_add(1, Ordering::Relaxed);
    let out = r.run(sessions, vec![(r.input_name(input_tensor)?, value)])?;
    let (shape, data) = out.try_extract_tensor::<f32>().map_err(|e| Error::ort(&r.model, e))?;
    // The config's shape, its batch dim (or its leading 1 when it does not batch) being `k` here.
    let fits = fits_declared(declared, shape);
    let per = data.len().checked_div(k).unwrap_or(0);
    if shape.last() != Some(&6) || !fits || shape.first() != Some(&(k as i64)) || per * k != data.len() {
        return Err(Error::Tensor {
            model: r.model.clone(),
            tensor: r.output.clone(),
            expected: format!(
                "{k} frames of rows of 6 values (x1, y1, x2, y2, score, class){}",
                declared.map(|d| format!(", shape {d:?} as its config declares")).unwrap_or_default()
            ),
            found: format!("shape {:?}", &shape[..]),
        });
    }
    let base = dets.len();
    dets.extend_from_slice(data);
    Ok((0..k).map(|f| base + f * per..base + (f + 1) * per).collect())
}
