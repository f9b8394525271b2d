//! Tests that drive the example binaries (`batch`, `serve`, `check`) and check the deploy files against them,
//! in one test binary (one link instead of seven; each module is what was one `tests/*.rs` file, and keeps its
//! name as the filter: `cargo test --test binaries batch_kill::`). `tests/serve_load_faults.rs`, which measures a
//! server under load, stays a binary of its own so that nothing else runs beside it.

#[path = "../batch_common/mod.rs"]
mod batch_common;
#[path = "../common/mod.rs"]
mod common;
#[path = "../serve_common/mod.rs"]
mod serve_common;

mod batch_job_manifest;
mod batch_kill;
mod batch_run;
mod check_example;
mod conventions;
mod deploy_dockerfiles;
mod deploy_inferenceservice;
mod serve_tritonclient;
