//! The library's in-process tests over the fixture repositories, in one test binary (one link instead of
//! twelve; each module is what was one `tests/*.rs` file, and keeps its name as the filter:
//! `cargo test --test library pipeline_golden::`).

#[path = "../common/mod.rs"]
mod common;

mod autocomplete;
mod concurrency;
mod frame_resize;
mod hostile_inputs;
mod infer_batch;
mod input_convention;
mod load_errors;
mod nested_ensembles;
mod pipeline_golden;
mod repository_open;
mod roles_by_wiring;
mod triton_l0_model_config;
mod triton_model_config;
