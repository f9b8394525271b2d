//! Triton's load-time checks, case by case: each case is a small repository written here from what a case of
//! Triton's `qa/L0_model_config` tests (our own text, not Triton's files), checked with `Repository::check`,
//! and the error must carry Triton's message (the gist of the case's `expected` file). Step models use a
//! backend this crate does not run (`identity`), so only their configs are checked, as in Triton's tests.
//! `tests/library/triton_l0_model_config.rs` runs Triton's own files when a mirror is present.

use std::path::PathBuf;

use clo_pipeline::Error;
use clo_pipeline::repository::{LoadOptions, ModelCheck, Repository};

struct TempRepo(PathBuf);

impl TempRepo {
    fn new(models: &[(&str, String)]) -> TempRepo {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("clo-triton-cfg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, config) in models {
            std::fs::create_dir_all(dir.join(name).join("1")).unwrap();
            std::fs::write(dir.join(name).join("config.pbtxt"), config).unwrap();
            // A placeholder model file: with no inspector, Repository::check opens no model file.
            std::fs::write(dir.join(name).join("1/model.onnx"), "not opened").unwrap();
        }
        TempRepo(dir)
    }

    fn check(&self, options: &LoadOptions) -> Vec<ModelCheck> {
        Repository::check(&self.0, options, None).unwrap()
    }
}

impl Drop for TempRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn error_of(reports: &[ModelCheck], model: &str) -> Option<String> {
    reports.iter().find(|r| r.name == model).and_then(|r| r.error.as_ref().map(Error::to_string))
}

/// A step model: `identity` backend, FP32 `INPUT0` → `OUTPUT0` with the given dims and batch size, or more
/// inputs and outputs (`INPUT0..`, `OUTPUT0..`).
fn identity(name: &str, max_batch_size: i64, dims: &str, inputs: usize, outputs: usize) -> (String, String) {
    identity_typed(name, max_batch_size, dims, inputs, outputs, "TYPE_FP32")
}

fn identity_typed(name: &str, mbs: i64, dims: &str, inputs: usize, outputs: usize, ty: &str) -> (String, String) {
    let mut c = format!("name: \"{name}\"\nbackend: \"identity\"\nmax_batch_size: {mbs}\n");
    for i in 0..inputs {
        c.push_str(&format!("input {{ name: \"INPUT{i}\" data_type: {ty} dims: [ {dims} ] }}\n"));
    }
    for i in 0..outputs {
        c.push_str(&format!("output {{ name: \"OUTPUT{i}\" data_type: {ty} dims: [ {dims} ] }}\n"));
    }
    (name.to_string(), c)
}

/// An ensemble `name` with FP32 input `data` and output `prob` of dims `[16]`, and the given steps.
fn ensemble(name: &str, max_batch_size: i64, steps: &str, extra: &str) -> (String, String) {
    ensemble_io(
        name,
        max_batch_size,
        steps,
        extra,
        "input { name: \"data\" data_type: TYPE_FP32 dims: [ 16 ] }\noutput { name: \"prob\" data_type: TYPE_FP32 dims: [ 16 ] }",
    )
}

fn ensemble_io(name: &str, max_batch_size: i64, steps: &str, extra: &str, io: &str) -> (String, String) {
    (
        name.to_string(),
        format!(
            "name: \"{name}\"\nplatform: \"ensemble\"\nmax_batch_size: {max_batch_size}\n{io}\n\
             ensemble_scheduling {{ step [ {steps} ] }}\n{extra}"
        ),
    )
}

fn step(model: &str, inputs: &[(&str, &str)], outputs: &[(&str, &str)]) -> String {
    let mut s = format!("{{ model_name: \"{model}\" model_version: -1 ");
    for (k, v) in inputs {
        s.push_str(&format!("input_map {{ key: \"{k}\" value: \"{v}\" }} "));
    }
    for (k, v) in outputs {
        s.push_str(&format!("output_map {{ key: \"{k}\" value: \"{v}\" }} "));
    }
    s.push('}');
    s
}

/// An ONNX Runtime model (config only: no model file is needed to fail these checks) with an INT32
/// `INPUT` and `OUTPUT` of dims `[1]`, batching up to 8, and `extra` config text.
fn onnx(name: &str, extra: &str) -> (String, String) {
    (
        name.to_string(),
        format!(
            "name: \"{name}\"\nplatform: \"onnxruntime_onnx\"\nmax_batch_size: 8\n\
             input [ {{ name: \"INPUT\" data_type: TYPE_INT32 dims: [ 1 ] }} ]\n\
             output [ {{ name: \"OUTPUT\" data_type: TYPE_INT32 dims: [ 1 ] }} ]\n{extra}"
        ),
    )
}

fn control(name: &str, kind: &str, values: &str) -> String {
    format!("{{ name: \"{name}\" control [ {{ kind: {kind} {values} }} ] }}")
}

/// What Triton's case tests, the repository, the model that fails, the message.
type Case = (&'static str, Vec<(String, String)>, &'static str, String);

fn cases() -> Vec<Case> {
    let seq = |controls: &[String]| format!("sequence_batching {{ control_input [ {} ] }}", controls.join(", "));
    let start = control("START", "CONTROL_SEQUENCE_START", "int32_false_true: [ 0, 1 ]");
    let ready = control("READY", "CONTROL_SEQUENCE_READY", "int32_false_true: [ 0, 1 ]");
    let s1 = step("fp32_dim1_batch4", &[("INPUT0", "data")], &[("OUTPUT0", "prob")]);
    let id = || identity("fp32_dim1_batch4", 4, "16", 1, 1);
    vec![
        // Batch inputs and outputs (noautofill_platform/batch_*).
        ("batch input without source", vec![onnx("m", "batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: \"B\" data_type: TYPE_FP32 } ]")], "m",
            "batch input kind 'BATCH_ELEMENT_COUNT' expects 1 source input, got 0".into()),
        ("batch input with two sources", vec![onnx("m", "batch_input [ { kind: BATCH_MAX_ELEMENT_COUNT_AS_SHAPE target_name: \"B\" data_type: TYPE_FP32 source_input: [\"INPUT\", \"INPUT\"] } ]")], "m",
            "batch input kind 'BATCH_MAX_ELEMENT_COUNT_AS_SHAPE' expects 1 source input, got 2".into()),
        ("batch input unknown source", vec![onnx("m", "batch_input [ { kind: BATCH_ITEM_SHAPE target_name: \"B\" data_type: TYPE_INT32 source_input: \"NOPE\" } ]")], "m",
            "unknown source input name 'NOPE'".into()),
        ("batch input data type", vec![onnx("m", "batch_input [ { kind: BATCH_ITEM_SHAPE target_name: \"B\" data_type: TYPE_INT64 source_input: \"INPUT\" } ]")], "m",
            "batch input data type must be TYPE_INT32 or TYPE_FP32 for m".into()),
        ("batch output duplicated target", vec![onnx("m", "batch_output [ { target_name: [\"OUTPUT\", \"OUTPUT\"] kind: BATCH_SCATTER_WITH_INPUT_SHAPE source_input: \"INPUT\" } ]")], "m",
            "target output name 'OUTPUT' can only be specified once".into()),
        ("batch output unknown target", vec![onnx("m", "batch_output [ { target_name: \"NOPE\" source_input: \"INPUT\" } ]")], "m",
            "unknown target output name 'NOPE'".into()),
        ("batch output without source", vec![onnx("m", "batch_output [ { target_name: \"OUTPUT\" } ]")], "m",
            "batch output kind 'BATCH_SCATTER_WITH_INPUT_SHAPE' expects 1 source input, got 0".into()),
        // Sequence batching controls (noautofill_platform/control_*).
        ("two START controls", vec![onnx("m", &seq(&[start.clone(), control("READY", "CONTROL_SEQUENCE_START", "int32_false_true: [ 0, 1 ]")]))], "m",
            "sequence batching specifies multiple CONTROL_SEQUENCE_START tensors for m".into()),
        ("two END controls", vec![onnx("m", &seq(&[control("E0", "CONTROL_SEQUENCE_END", "fp32_false_true: [ 0, 1 ]"), control("E1", "CONTROL_SEQUENCE_END", "bool_false_true: [ false, true ]")]))], "m",
            "sequence batching specifies multiple CONTROL_SEQUENCE_END tensors for m".into()),
        ("one tensor for two controls", vec![onnx("m", &seq(&[start.clone(), control("START", "CONTROL_SEQUENCE_READY", "int32_false_true: [ 0, 1 ]")]))], "m",
            "sequence batching control tensor 'START' is specified for multiple control kinds for m".into()),
        ("control without values", vec![onnx("m", &seq(&[start.clone(), control("READY", "CONTROL_SEQUENCE_READY", "")]))], "m",
            "sequence batching must specify either 'int32_false_true', 'fp32_false_true' or 'bool_false_true' for CONTROL_SEQUENCE_READY for m".into()),
        ("control with one value", vec![onnx("m", &seq(&[control("READY", "CONTROL_SEQUENCE_READY", "int32_false_true: [ 1 ]")]))], "m",
            "sequence batching control 'int32_false_true' must have exactly 2 entries for CONTROL_SEQUENCE_READY for m".into()),
        ("control with two kinds of values", vec![onnx("m", &seq(&[control("READY", "CONTROL_SEQUENCE_READY", "int32_false_true: [ 0, 1 ] fp32_false_true: [ 0, 1 ]")]))], "m",
            "sequence batching specifies more than one from 'int32_false_true', 'fp32_false_true' and 'bool_false_true' for CONTROL_SEQUENCE_READY for m".into()),
        ("corrid data type", vec![onnx("m", &seq(&[ready.clone(), control("CORRID", "CONTROL_SEQUENCE_CORRID", "data_type: TYPE_FP32")]))], "m",
            "unexpected data type for control CONTROL_SEQUENCE_CORRID for m. Allowed data types are TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING".into()),
        ("corrid with values", vec![onnx("m", &seq(&[control("CORRID", "CONTROL_SEQUENCE_CORRID", "data_type: TYPE_UINT64 int32_false_true: [ 0, 1 ]")]))], "m",
            "sequence batching must not specify either 'int32_false_true', 'fp32_false_true' or 'bool_false_true' for CONTROL_SEQUENCE_CORRID for m".into()),
        ("control without a name", vec![onnx("m", "sequence_batching { control_input [ { control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [0, 1] } ] } ] }")], "m",
            "sequence batching control tensor must have a name for m".into()),
        ("oldest preferred batch size", vec![onnx("m", "sequence_batching { oldest { preferred_batch_size: [ 16 ] } }")], "m",
            "sequence batching preferred batch size must be <= max batch size for m".into()),
        ("direct slot utilization", vec![onnx("m", "sequence_batching { direct { minimum_slot_utilization: 1.5 } }")], "m",
            "sequence batching minimum slot utilization must be in range (0.0, 1.0] for m".into()),
        ("sequence batching with response cache", vec![onnx("m", "sequence_batching { } response_cache { enable: true }")], "m",
            "Response Cache does not currently support model m with sequence batching scheduler. Please disable the response cache.".into()),
        // Dynamic batching: priority levels and preserve_ordering with queue policies.
        ("default priority level 0", vec![onnx("m", "dynamic_batching { priority_levels: 3 }")], "m",
            "default priority level must be in range [1, 3] for m".into()),
        ("default priority level too high", vec![onnx("m", "dynamic_batching { priority_levels: 3 default_priority_level: 5 }")], "m",
            "default priority level must be in range [1, 3] for m".into()),
        ("queue policy level 0", vec![onnx("m", "dynamic_batching { priority_levels: 3 default_priority_level: 2 priority_queue_policy { key: 0 value: { } } }")], "m",
            "priority queue policy must have priority level in range [1, 3] for m".into()),
        ("queue policy level 4", vec![onnx("m", "dynamic_batching { priority_levels: 3 default_priority_level: 2 priority_queue_policy { key: 4 value: { } } }")], "m",
            "priority queue policy must have priority level in range [1, 3] for m".into()),
        ("preserve_ordering with priorities", vec![onnx("m", "dynamic_batching { preserve_ordering: true priority_levels: 3 default_priority_level: 2 }")], "m",
            "Only one priority level is allowed when 'preserve_ordering' is true for m".into()),
        ("preserve_ordering with DELAY", vec![onnx("m", "dynamic_batching { preserve_ordering: true default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 1000 } }")], "m",
            "Queue policy can not have DELAY as timeout action when 'preserve_ordering' is true for m".into()),
        ("preserve_ordering with a DELAY priority policy", vec![onnx("m", "dynamic_batching { preserve_ordering: true priority_levels: 1 default_priority_level: 1 priority_queue_policy { key: 1 value: { timeout_action: DELAY default_timeout_microseconds: 1000 } } }")], "m",
            "Queue policy can not have DELAY as timeout action when 'preserve_ordering' is true for m".into()),
        ("preferred batch size 0", vec![onnx("m", "dynamic_batching { preferred_batch_size: [ 0 ] }")], "m",
            "dynamic batching preferred size must be positive for m".into()),
        ("decoupled with response cache", vec![onnx("m", "model_transaction_policy { decoupled: true } response_cache { enable: true }")], "m",
            "Response Cache does not currently support model m with 'decoupled' transaction policy. Please disable the response cache.".into()),
        ("metric control without identifier", vec![onnx("m", "model_metrics { metric_control [ { histogram_options { buckets: [1] } } ] }")], "m",
            "metric control must specify 'metric_identifier'".into()),
        ("metric control without buckets", vec![onnx("m", "model_metrics { metric_control [ { metric_identifier { family: \"f\" } histogram_options { } } ] }")], "m",
            "histogram options must specify non-empty 'buckets'".into()),
        // Instance groups: kinds and GPU ids (GPU 0 exists).
        ("KIND_CPU with gpus", vec![onnx("m", "instance_group [ { kind: KIND_CPU gpus: [ 0 ] } ]")], "m",
            "instance group m_0 of model m has kind KIND_CPU but specifies one or more GPUs".into()),
        ("KIND_MODEL with gpus", vec![onnx("m", "instance_group [ { name: \"g\" kind: KIND_MODEL gpus: [ 0 ] } ]")], "m",
            "instance group g of model m has kind KIND_MODEL but specifies one or more GPUs".into()),
        ("a GPU that does not exist", vec![onnx("m", "instance_group [ { kind: KIND_GPU gpus: [ 42 ] } ]")], "m",
            "instance group m_0 of model m specifies invalid or unsupported gpu id 42. GPUs with at least the minimum required CUDA compute compatibility of 6.000000 are: 0".into()),
        ("a negative GPU id", vec![onnx("m", "instance_group [ { gpus: [ 0 ] }, { kind: KIND_GPU gpus: [ -1 ] } ]")], "m",
            "instance group m_1 of model m specifies invalid or unsupported gpu id -1".into()),
        ("a TensorRT profile on ONNX", vec![onnx("m", "instance_group [ { kind: KIND_CPU profile: [ \"0\" ] } ]")], "m",
            "instance group m_0 of model m and platform onnxruntime_onnxspecifies profile field which is only supported for TensorRT models".into()),
        // Ensembles, within their own config (autofill_noplatform/ensemble/*).
        ("ensemble without steps", vec![ensemble("e", 4, "", "")], "e", "must specify 'step' for ensemble 'e'".into()),
        ("step without model_name", vec![id(), ensemble("e", 4, &format!("{s1}, {{ input_map {{ key: \"a\" value: \"data\" }} output_map {{ key: \"b\" value: \"x\" }} }}"), "")], "e",
            "must specify 'model_name' in step 1 of ensemble 'e'".into()),
        ("step without input_map", vec![id(), ensemble("e", 4, &format!("{s1}, {}", step("fp32_dim1_batch4", &[], &[("OUTPUT0", "x")])), "")], "e",
            "must specify 'input_map' in step 1 of ensemble 'e'".into()),
        ("step without output_map", vec![id(), ensemble("e", 4, &format!("{s1}, {}", step("fp32_dim1_batch4", &[("INPUT0", "data")], &[])), "")], "e",
            "must specify 'output_map' in step 1 of ensemble 'e'".into()),
        ("instance_group on an ensemble", vec![id(), ensemble("e", 4, &s1, "instance_group [ { kind: KIND_CPU } ]")], "e",
            "instance group should not be specified for ensemble 'e'".into()),
        ("optimization on an ensemble", vec![id(), ensemble("e", 4, &s1, "optimization { eager_batching: true }")], "e",
            "optimization should not be specified for ensemble 'e'".into()),
        ("model_warmup on an ensemble", vec![id(), ensemble("e", 4, &s1, "model_warmup [ { name: \"w\" } ]")], "e",
            "model_warmup can not be specified for ensemble 'e'".into()),
        ("a batcher on an ensemble", vec![id(), ensemble("e", 4, &s1, "dynamic_batching { }")], "e",
            "Field \"dynamic_batching\" is specified along with field \"ensemble_scheduling\", another member of oneof \"scheduling_choice\"".into()),
        ("an ensemble with a backend", vec![("e".into(), "platform: \"ensemble\" backend: \"onnxruntime\"".into())], "e",
            "Ensemble model 'e' must have platform type 'ensemble' and empty backend type".into()),
        ("an ensemble without scheduling", vec![("e".into(), "platform: \"ensemble\"".into())], "e",
            "ensemble scheduling must be set for ensemble e whose platform is ensemble".into()),
        ("an input no step reads", vec![id(), ensemble_io("e", 4, &s1, "", "input [ { name: \"data\" data_type: TYPE_FP32 dims: [16] }, { name: \"data_2\" data_type: TYPE_FP32 dims: [16] } ] output { name: \"prob\" data_type: TYPE_FP32 dims: [16] }")], "e",
            "ensemble input 'data_2' for ensemble e' is not used".into()),
        ("an output no step writes", vec![id(), ensemble_io("e", 4, &s1, "", "input { name: \"data\" data_type: TYPE_FP32 dims: [16] } output [ { name: \"prob\" data_type: TYPE_FP32 dims: [16] }, { name: \"prob_2\" data_type: TYPE_FP32 dims: [16] } ]")], "e",
            "ensemble output 'prob_2' for ensemble e' is not used".into()),
        ("an output whose input nothing writes", vec![id(), ensemble_io("e", 4, &format!("{s1}, {}", step("fp32_dim1_batch4", &[("INPUT0", "not_written_tensor")], &[("OUTPUT0", "prob_2")])), "", "input { name: \"data\" data_type: TYPE_FP32 dims: [16] } output [ { name: \"prob\" data_type: TYPE_FP32 dims: [16] }, { name: \"prob_2\" data_type: TYPE_FP32 dims: [16] } ]")], "e",
            "output 'prob_2' for ensemble 'e' is not written: at least one of its depending tensors, 'not_written_tensor', is not connected".into()),
        ("a produced tensor nobody reads", vec![identity("two", 4, "16", 1, 2), ensemble("e", 4, &step("two", &[("INPUT0", "data")], &[("OUTPUT0", "prob"), ("OUTPUT1", "temp")]), "")], "e",
            "ensemble tensor 'temp' is unused in ensemble 'e'".into()),
        ("a tensor written twice", vec![id(), ensemble("e", 4, &format!("{s1}, {}", step("fp32_dim1_batch4", &[("INPUT0", "data")], &[("OUTPUT0", "prob")])), "")], "e",
            "ensemble tensor 'prob' can appear in an output map only once for ensemble 'e' step 1".into()),
        // Ensembles, across their steps.
        ("ensemble batch size above a step's", vec![identity("fp32_dim1_batch2", 2, "16", 1, 1), ensemble("e", 3, &step("fp32_dim1_batch2", &[("INPUT0", "data")], &[("OUTPUT0", "prob")]), "")], "e",
            "ensemble e allows maximum batch size 3, but it contains model fp32_dim1_batch2 which only allows maximum batch size to be 2".into()),
        ("inconsistent shape", vec![id(), identity("fp32_dim3_batch4", 4, "16, 16, 16", 1, 1), ensemble("e", 2, &format!("{}, {}", step("fp32_dim1_batch4", &[("INPUT0", "data")], &[("OUTPUT0", "temp_tensor")]), step("fp32_dim3_batch4", &[("INPUT0", "temp_tensor")], &[("OUTPUT0", "prob")])), "")], "e",
            "in ensemble e, ensemble tensor temp_tensor: inconsistent shape: [-1,16] is inferred from model fp32_dim1_batch4 while [-1,16,16,16] is inferred from model fp32_dim3_batch4".into()),
        ("inconsistent data type", vec![identity_typed("int32_dim1_batch4", 4, "16", 1, 1, "TYPE_INT32"), ensemble("e", 2, &step("int32_dim1_batch4", &[("INPUT0", "data")], &[("OUTPUT0", "prob")]), "")], "e",
            "in ensemble e, ensemble tensor data: inconsistent data type: TYPE_FP32 is inferred from model e while TYPE_INT32 is inferred from model int32_dim1_batch4".into()),
        ("a step input left unmapped", vec![identity("in2", 4, "16", 2, 1), ensemble("e", 2, &step("in2", &[("INPUT1", "data")], &[("OUTPUT0", "prob")]), "")], "e",
            "in ensemble e, input INPUT0 in model in2 is not mapped to any ensemble tensors".into()),
        ("mapping to an input the step lacks", vec![id(), ensemble("e", 2, &step("fp32_dim1_batch4", &[("INPUT0", "data"), ("invalid_input", "data")], &[("OUTPUT0", "prob")]), "")], "e",
            "in ensemble e, ensemble tensor data is mapping to non-existing input invalid_input in model fp32_dim1_batch4".into()),
        ("mapping from an output the step lacks", vec![id(), ensemble("e", 2, &step("fp32_dim1_batch4", &[("INPUT0", "data")], &[("OUTPUT0", "prob"), ("invalid_output", "x")]), "")], "e",
            "ensemble tensor 'x' is unused in ensemble 'e'".into()),
        ("a step model that is not there", vec![ensemble("e", 2, &step("fp32_dim1_batch4_input4", &[("INPUT0", "data")], &[("OUTPUT0", "prob")]), "")], "e",
            "ensemble e contains models that are not available or ambiguous: fp32_dim1_batch4_input4".into()),
        ("a step version that is not there", vec![id(), ensemble("e", 2, &step("fp32_dim1_batch4", &[("INPUT0", "data")], &[("OUTPUT0", "prob")]).replace("model_version: -1", "model_version: 2"), "")], "e",
            "ensemble 'e' depends on 'fp32_dim1_batch4' whose required version 2 is not loaded".into()),
        ("two ensembles that run each other", vec![
            ensemble("a", 0, &step("b", &[("data", "data")], &[("prob", "prob")]), ""),
            ensemble("b", 0, &step("a", &[("data", "data")], &[("prob", "prob")]), "")], "a",
            "circular dependency between ensembles: a -> ... -> b -> a".into()),
        ("a step that fails", vec![identity("bad", -1, "16", 1, 1), ensemble("e", 0, &step("bad", &[("INPUT0", "data")], &[("OUTPUT0", "prob")]), "")], "e",
            "ensemble 'e' depends on 'bad' which is not valid. Model 'bad' failed with error:".into()),
        ("a decoupled branch", vec![
            (identity("dec", 0, "16", 1, 1).0, identity("dec", 0, "16", 1, 1).1 + "model_transaction_policy { decoupled: true }"),
            identity("plain", 0, "16", 1, 1), identity("join", 0, "16", 2, 1),
            ensemble("e", 0, &format!("{}, {}, {}",
                step("dec", &[("INPUT0", "data")], &[("OUTPUT0", "a")]),
                step("plain", &[("INPUT0", "data")], &[("OUTPUT0", "b")]),
                step("join", &[("INPUT0", "a"), ("INPUT1", "b")], &[("OUTPUT0", "prob")])), "")], "e",
            "in ensemble e, step of model 'join' receives inputs originated from different decoupled models".into()),
    ]
}

#[test]
fn tritons_load_checks_with_tritons_messages() {
    let options = LoadOptions::default().available_gpus([0]);
    let mut failures = Vec::new();
    for (what, models, failing, want) in cases() {
        let models: Vec<(&str, String)> = models.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
        let repo = TempRepo::new(&models);
        let reports = repo.check(&options);
        match error_of(&reports, failing) {
            Some(got) if got.contains(&want) => {}
            got => failures.push(format!("{what}: model `{failing}`\n  got  {got:?}\n  want {want:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_repositories_without_the_faults_load() {
    // Every passing twin of the cases above: the checks do not reject what Triton accepts.
    let s1 = step("fp32_dim1_batch4", &[("INPUT0", "data")], &[("OUTPUT0", "prob")]);
    let good: Vec<Vec<(String, String)>> = vec![
        vec![onnx(
            "m",
            "batch_input [ { kind: BATCH_ELEMENT_COUNT target_name: \"B\" data_type: TYPE_FP32 source_input: \"INPUT\" } ]",
        )],
        vec![onnx("m", "batch_output [ { target_name: \"OUTPUT\" source_input: \"INPUT\" } ]")],
        vec![onnx(
            "m",
            "sequence_batching { oldest { preferred_batch_size: [ 8 ] } control_input [ { name: \"S\" control [ { kind: CONTROL_SEQUENCE_START bool_false_true: [ false, true ] } ] }, { name: \"C\" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_STRING } ] } ] }",
        )],
        vec![onnx(
            "m",
            "dynamic_batching { preferred_batch_size: [ 4, 8 ] priority_levels: 3 default_priority_level: 2 priority_queue_policy { key: 3 value: { timeout_action: DELAY default_timeout_microseconds: 10 } } }",
        )],
        vec![onnx("m", "dynamic_batching { preserve_ordering: true default_queue_policy { timeout_action: DELAY } }")],
        vec![onnx(
            "m",
            "instance_group [ { kind: KIND_GPU gpus: [ 0 ] }, { kind: KIND_CPU count: 2 }, { gpus: [ 0 ] } ]",
        )],
        vec![identity("fp32_dim1_batch4", 4, "16", 1, 1), ensemble("e", 4, &s1, "")],
        // A non-batching step shares a tensor with a batching one: [-1,16] against [16].
        vec![
            identity("fp32_dim1_batch4", 4, "16", 1, 1),
            identity("nobatch", 0, "-1, 16", 1, 1),
            ensemble_io(
                "e",
                0,
                &format!(
                    "{}, {}",
                    step("nobatch", &[("INPUT0", "data")], &[("OUTPUT0", "t")]),
                    step("fp32_dim1_batch4", &[("INPUT0", "t")], &[("OUTPUT0", "prob")])
                ),
                "",
                "input { name: \"data\" data_type: TYPE_FP32 dims: [ -1, 16 ] }\noutput { name: \"prob\" data_type: TYPE_FP32 dims: [ -1, 16 ] }",
            ),
        ],
    ];
    let options = LoadOptions::default().available_gpus([0]);
    let mut failures = Vec::new();
    for models in good {
        let list: Vec<(&str, String)> = models.iter().map(|(n, c)| (n.as_str(), c.clone())).collect();
        let repo = TempRepo::new(&list);
        for r in repo.check(&options) {
            if let Some(e) = r.error {
                failures.push(format!("{}: {e}\n{:?}", r.name, list));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn gpu_ids_are_checked_only_when_known() {
    let repo = TempRepo::new(&[("m", onnx("m", "instance_group [ { kind: KIND_GPU gpus: [ 3 ] } ]").1)]);
    // Unknown GPUs: no verdict on id 3.
    assert!(repo.check(&LoadOptions::default())[0].error.is_none());
    // A machine without GPUs: an AUTO group that lists one becomes KIND_CPU, as in Triton.
    let e = error_of(&repo.check(&LoadOptions::default().available_gpus([0, 1, 2, 3])), "m");
    assert!(e.is_none(), "{e:?}");
    let e = error_of(&repo.check(&LoadOptions::default().available_gpus([])), "m").unwrap();
    assert!(e.contains("specifies invalid or unsupported gpu id 3"), "{e}");
    let auto = TempRepo::new(&[("m", onnx("m", "instance_group [ { gpus: [ 0 ] } ]").1)]);
    let e = error_of(&auto.check(&LoadOptions::default().available_gpus([])), "m").unwrap();
    assert!(e.contains("instance group m_0 of model m has kind KIND_CPU but specifies one or more GPUs"), "{e}");
    let gpu = TempRepo::new(&[("m", onnx("m", "instance_group [ { kind: KIND_GPU } ]").1)]);
    let e = error_of(&gpu.check(&LoadOptions::default().available_gpus([])), "m").unwrap();
    assert!(e.contains("has kind KIND_GPU but no GPUs are available"), "{e}");
}

#[test]
fn repository_open_stops_at_the_first_error_with_the_same_message() {
    let repo = TempRepo::new(&[("m", onnx("m", "dynamic_batching { priority_levels: 3 }").1)]);
    match Repository::open(&repo.0) {
        Err(Error::Config { model, message, path, kind }) => {
            assert_eq!(kind, clo_pipeline::ConfigErrorKind::InvalidField);
            assert_eq!(model, "m");
            assert!(path.ends_with("m/config.pbtxt"));
            assert_eq!(message, "default priority level must be in range [1, 3] for m");
        }
        other => panic!("{other:?}"),
    }
}
