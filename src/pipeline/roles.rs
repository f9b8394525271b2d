//! The CLO roles (preprocess, detect, postprocess, estimate), recognised from an ensemble's tensor wiring.

use crate::ensemble::{EnsemblePlan, PlannedStep, StepNames};
use crate::error::{EnsembleErrorKind, Error, Result};
use crate::repository::DataType;
use crate::stages::Geometry;

/// The CLO roles, recognised from the ensemble's tensor wiring (not from model names).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Roles {
    /// The ensemble's image input.
    pub(super) image: String,
    pub(crate) preprocess: StepNames,
    pub(super) detect: StepNames,
    pub(super) postprocess: StepNames,
    pub(super) estimate: StepNames,
}

impl Roles {
    pub(super) fn recognise(plan: &EnsemblePlan) -> Result<Roles> {
        let err = |m: String| Error::Ensemble {
            model: plan.name.clone(),
            kind: EnsembleErrorKind::NotClo,
            message: format!(
                "does not have the CLO shape (image → preprocess → detect; image + detections → postprocess → estimate): {m}"
            ),
        };
        let [image] = plan.inputs.as_slice() else {
            return Err(err(format!("expected one input (the image), found {}", plan.inputs.len())));
        };
        if plan.steps.len() != 4 {
            return Err(err(format!("expected 4 steps, found {}", plan.steps.len())));
        }
        let names = |s: &PlannedStep| -> Result<StepNames> {
            let [(out, out_tensor)] = s.outputs.as_slice() else {
                return Err(err(format!("step `{}` must map exactly one output, maps {}", s.model, s.outputs.len())));
            };
            Ok(StepNames {
                model: s.model.clone(),
                inputs: s.inputs.iter().map(|(k, v)| (v.clone(), k.clone())).collect(),
                output: out.clone(),
                output_tensor: out_tensor.clone(),
            })
        };
        let reads_image = |s: &&PlannedStep| s.inputs.iter().filter(|(_, v)| *v == image.name).count() == 1;
        let pre: Vec<&PlannedStep> = plan.steps.iter().filter(|s| s.inputs.len() == 1 && reads_image(s)).collect();
        let post: Vec<&PlannedStep> = plan.steps.iter().filter(|s| s.inputs.len() == 2 && reads_image(s)).collect();
        let ([pre], [post]) = (pre.as_slice(), post.as_slice()) else {
            return Err(err(
                "expected exactly one step reading only the image and one reading the image and one more tensor".into(),
            ));
        };
        let preprocess = names(pre)?;
        let postprocess = names(post)?;
        let det_tensor = post.inputs.iter().map(|(_, v)| v).find(|v| **v != image.name).cloned().unwrap_or_default();
        let det = plan.writer(&det_tensor).ok_or_else(|| err(format!("no step writes `{det_tensor}`")))?;
        let detect = names(det)?;
        if detect.inputs.len() != 1 || !detect.inputs.contains_key(&preprocess.output_tensor) {
            return Err(err(format!("the detector `{}` must read only the preprocessing output", detect.model)));
        }
        let est = plan.readers(&postprocess.output_tensor);
        let [est] = est.as_slice() else {
            return Err(err(format!("exactly one step must read the crop `{}`", postprocess.output_tensor)));
        };
        let estimate = names(est)?;
        if estimate.inputs.len() != 1 {
            return Err(err(format!("the estimator `{}` must read only the crop", estimate.model)));
        }
        Ok(Roles { image: image.name.clone(), preprocess, detect, postprocess, estimate })
    }

    /// Geometry from the configs' shapes: the image input `[1,3,H,W]`, the letterbox `[1,3,S,S]`, the crop.
    pub(super) fn geometry(&self, plan: &EnsemblePlan) -> Result<Geometry> {
        let nchw = |tensor: &str| -> Result<(u32, u32)> {
            let (dt, shape) = plan.tensors.get(tensor).cloned().unwrap_or((DataType::Fp32, Vec::new()));
            let hw = match shape.as_slice() {
                [_, 3, h, w] | [3, h, w] if *h > 0 && *w > 0 => Some((*w as u32, *h as u32)),
                _ => None,
            };
            match (dt, hw) {
                (DataType::Fp32, Some(hw)) => Ok(hw),
                _ => Err(Error::Ensemble {
                    model: plan.name.clone(),
                    kind: EnsembleErrorKind::NotClo,
                    message: format!(
                        "tensor `{tensor}` must be TYPE_FP32 [1,3,H,W] with static H, W; it is {} {shape:?}",
                        dt.as_triton()
                    ),
                }),
            }
        };
        let model_input = nchw(&self.image)?;
        let (lw, lh) = nchw(&self.preprocess.output_tensor)?;
        let (cw, ch) = nchw(&self.postprocess.output_tensor)?;
        if lw != lh || cw != ch {
            return Err(Error::Ensemble {
                model: plan.name.clone(),
                kind: EnsembleErrorKind::NotClo,
                message: format!("the letterbox ({lw}x{lh}) and the crop ({cw}x{ch}) must be square"),
            });
        }
        Ok(Geometry { model_input, letterbox: lw, crop: cw, ..Geometry::default() })
    }
}
