//! [`BuildReport`]: every decision [`PipelineBuilder::build`](super::PipelineBuilder::build) made, with its
//! evidence, so that nothing it chose is silent.

use std::fmt;

use super::StageMode;
use crate::convention::{EncodingCheck, InputConvention, InputEncoding};

use crate::device::DeviceInfo;
use crate::stages::resize::FrameResize;

/// Every decision the build made (device, input encoding, stage modes, fallbacks) and the measurements behind
/// them. [`Display`](fmt::Display) writes one line per decision, for a log or a terminal;
/// [`Pipeline::report`](super::Pipeline::report) returns it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildReport {
    /// The ensemble run.
    pub ensemble: String,
    /// Where the pipeline runs, and each probe's outcome.
    pub device: DeviceInfo,
    /// What the ensemble input's values mean.
    pub input: EncodingDecision,
    /// How preprocessing runs.
    pub preprocess: StageDecision,
    /// How postprocessing runs.
    pub postprocess: StageDecision,
    /// How Model mode stretches a frame of another size to the ensemble's input size.
    pub frame_resize: FrameResize,
}

/// How the input encoding was settled.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EncodingDecision {
    /// What the builder was given.
    pub asked: InputConvention,
    /// The encoding in use.
    pub settled: InputEncoding,
    /// Each encoding measured against the native stages on the probe frame (for `Auto`: every candidate; for a
    /// fixed encoding: it, and the other candidates when it did not match).
    pub checks: Vec<EncodingCheck>,
    /// Why, in words.
    pub note: String,
}

/// How one stage's mode was settled.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StageDecision {
    /// What the builder was given.
    pub asked: StageMode,
    /// The mode in use (never `Auto`).
    pub settled: StageMode,
    /// Max |native − model| on the probe frame (letterbox or crop), when it was measured.
    pub max_abs: Option<f32>,
    /// The parity tolerance.
    pub tolerance: f32,
    /// Why, in words.
    pub note: String,
}

impl StageDecision {
    pub(super) fn settle(asked: StageMode, max_abs: Option<f32>, tolerance: f32, stage: &str) -> StageDecision {
        let (settled, note) = match (asked, max_abs) {
            (StageMode::Auto, Some(d)) if d <= tolerance => (
                StageMode::Native,
                format!("auto: the native stage matches the repository's model ({d:.2e} <= {tolerance:.0e})"),
            ),
            (StageMode::Auto, Some(d)) => {
                tracing::warn!(
                    stage,
                    max_abs_diff = d,
                    tolerance,
                    "native stage differs from the repository's model; using the model"
                );
                (
                    StageMode::Model,
                    format!(
                        "auto: the native stage differs from the repository's model by {d:.2e} (> {tolerance:.0e}): \
                         the model runs"
                    ),
                )
            }
            (StageMode::Auto, None) => (StageMode::Model, "auto: not measured; the model runs".to_string()),
            (m, _) => (m, "asked for".to_string()),
        };
        StageDecision { asked, settled, max_abs, tolerance, note }
    }
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.device;
        let why = d.reason.lines().next().unwrap_or_default().trim_end_matches([';', ':']);
        writeln!(f, "ensemble     {}", self.ensemble)?;
        writeln!(f, "device       {} ({why})", d.device)?;
        writeln!(f, "input        {} (asked: {}; {})", self.input.settled, self.input.asked, self.input.note)?;
        for c in &self.input.checks {
            writeln!(f, "               {c}")?;
        }
        writeln!(f, "preprocess   {} ({})", self.preprocess.settled, self.preprocess.note)?;
        writeln!(f, "postprocess  {} ({})", self.postprocess.settled, self.postprocess.note)?;
        write!(f, "stretch      {} (Model mode, frames of another size)", self.frame_resize)
    }
}
