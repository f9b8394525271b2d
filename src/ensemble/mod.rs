//! Triton ensembles: [`EnsemblePlan`], a config's `ensemble_scheduling` checked into a DAG of steps, with the
//! generic executor (`plan.rs`), and [`Ensemble`], a loaded, validated ensemble with its pool of ONNX Runtime
//! sessions that runs on named tensors exactly as Triton would (`run.rs`).

mod plan;
mod run;

pub use self::plan::{EnsemblePlan, PlannedStep};
pub use self::run::Ensemble;
pub(crate) use self::run::{StepNames, Worker};
