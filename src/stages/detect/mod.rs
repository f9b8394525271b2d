//! The detector (the repository's `yolov8` step): the letterbox in, rows of `(x1, y1, x2, y2, score, class)`
//! in letterbox pixels out. It is the repository's model on every path; what the crate adds is the check of
//! what comes out: rows of six values, in the shape the model's config declares (its dynamic dims are only
//! known at run time). [`cpu`] runs it on host tensors; on the GPU the worker binds the letterbox's device
//! buffer in place (`src/cuda/worker.rs`), and the output shape is fixed when its buffer is preallocated.

pub(crate) mod cpu;

/// Whether a produced shape matches the declared one (`None`: nothing declared; `-1` matches any size).
pub(crate) fn fits_declared(declared: Option<&[i64]>, shape: &[i64]) -> bool {
    declared.is_none_or(|d| d.len() == shape.len() && d.iter().zip(shape).all(|(&want, &got)| want < 0 || want == got))
}
