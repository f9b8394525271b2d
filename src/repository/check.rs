//! Triton's load-time checks of a model configuration, with Triton's messages.
//!
//! Transcribed from triton-inference-server/core (`src/model_config_utils.cc`: `ValidateModelConfig`,
//! `ValidateModelIOConfig`, `ValidateIOShape`, `ValidateBatchIO`, `ValidateInstanceGroup`,
//! `ValidateEnsembleSchedulingConfig`, the sequence-batching control checks; `src/ensemble_scheduler/
//! ensemble_utils.cc`: `ValidateEnsembleConfig`; `src/model_repository_manager/model_repository_manager.cc`:
//! the dependency checks between ensembles and their steps), checked against core@73aad7c (2026-06) and the
//! expected messages of `qa/L0_model_config` in triton-inference-server/server. Each function returns
//! Triton's message, which the caller wraps into an [`Error`](crate::Error) with the file and the model.
//!
//! The checks run on a config that [`schema::check`](super::schema) accepted, read through
//! [`View`](super::schema::View), in Triton's order:
//!
//! 1. [`validate_model_config`]: platform and backend, `max_batch_size`, dynamic batching (preferred sizes,
//!    priority levels, queue policies with `preserve_ordering`), sequence batching (controls, strategies),
//!    ensemble scheduling (steps, maps, the data flow, no `instance_group` / `optimization` /
//!    `model_warmup`), response cache, model metrics;
//! 2. [`validate_io_config`]: every input and output (name, data type, dims, reshape, formats, shape
//!    tensors), batch inputs and outputs;
//! 3. [`validate_instance_groups`]: kinds and GPU ids, after Triton's normalisation;
//! 4. for an ensemble, once its steps are loaded, [`validate_ensemble`]: `max_batch_size` within each step's,
//!    each tensor's type and shape consistent between its producer and its readers, every step input mapped,
//!    decoupled branches.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::config::ModelConfig;
use super::schema::{
    BATCH_INPUT_KIND, BATCH_OUTPUT_KIND, CONTROL_KIND, DATA_TYPE, INPUT_FORMAT, INSTANCE_GROUP_KIND, TIMEOUT_ACTION,
    View,
};

/// `--min-compute-capability`'s default in Triton (`TRITON_MIN_COMPUTE_CAPABILITY`), as its messages print it.
const MIN_COMPUTE_CAPABILITY: &str = "6.000000";

/// A check's failure: Triton's message.
pub(crate) type Check = std::result::Result<(), String>;

/// Which backend a platform or backend name means (Triton's `BackendType`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BackendType {
    Unknown,
    TensorFlow,
    TensorRt,
    OnnxRuntime,
    PyTorch,
    TorchAoti,
}

fn backend_type_from_platform(platform: &str) -> BackendType {
    match platform {
        "tensorflow_graphdef" | "tensorflow_savedmodel" => BackendType::TensorFlow,
        "tensorrt_plan" => BackendType::TensorRt,
        "onnxruntime_onnx" => BackendType::OnnxRuntime,
        "pytorch_libtorch" => BackendType::PyTorch,
        "torch_aoti" => BackendType::TorchAoti,
        _ => BackendType::Unknown,
    }
}

fn backend_type(backend: &str) -> BackendType {
    match backend {
        "tensorflow" => BackendType::TensorFlow,
        "tensorrt" => BackendType::TensorRt,
        "onnxruntime" => BackendType::OnnxRuntime,
        // Triton's kPyTorchAotiBackend is also "pytorch", so "pytorch" always reads as PyTorch.
        "pytorch" => BackendType::PyTorch,
        _ => BackendType::Unknown,
    }
}

/// Triton's `ValidateModelConfig`, on a config whose backend fields are completed
/// ([`autocomplete::complete_backend_fields`](super::autocomplete::complete_backend_fields)).
pub(crate) fn validate_model_config(c: View<'_>) -> Check {
    let name = c.str("name");
    if name.is_empty() {
        return Err("model configuration must specify 'name'".into());
    }
    let platform = c.str("platform");
    let backend = c.str("backend");
    if backend.is_empty() {
        if platform != "ensemble" {
            return Err(format!("unexpected platform type '{platform}' for {name}"));
        }
    } else if platform == "ensemble" {
        return Err(format!("Ensemble model '{name}' must have platform type '{platform}' and empty backend type"));
    }
    if platform.is_empty() && backend.is_empty() {
        return Err(format!("must specify 'platform' or 'backend' for '{name}'"));
    }
    let bt = backend_type(backend);
    if bt != BackendType::Unknown && bt != backend_type_from_platform(platform) {
        return Err(format!("unexpected 'platform' and 'backend' pair, got:{platform}, {backend}"));
    }
    let max_batch_size = c.int("max_batch_size");
    if max_batch_size < 0 {
        return Err(format!("'max_batch_size' must be non-negative value for {name}"));
    }

    if c.has("dynamic_batching") {
        dynamic_batching(c.msg("dynamic_batching"), name, max_batch_size)?;
    }
    if c.has("sequence_batching") {
        if c.msg("response_cache").bool("enable") {
            return Err(format!(
                "Response Cache does not currently support model {name} with sequence batching scheduler. \
                 Please disable the response cache."
            ));
        }
        sequence_batching(c.msg("sequence_batching"), name, max_batch_size)?;
    }

    if c.has("ensemble_scheduling") {
        ensemble_scheduling(c, name)?;
    } else if platform == "ensemble" {
        return Err(format!("ensemble scheduling must be set for ensemble {name} whose platform is ensemble"));
    }

    if c.msg("model_transaction_policy").bool("decoupled") && c.msg("response_cache").bool("enable") {
        return Err(format!(
            "Response Cache does not currently support model {name} with 'decoupled' transaction policy. \
             Please disable the response cache."
        ));
    }
    if c.has("model_metrics") {
        for mc in c.msg("model_metrics").msgs("metric_control") {
            if !mc.has("metric_identifier") {
                return Err("metric control must specify 'metric_identifier'".into());
            }
            if mc.msg("metric_identifier").str("family").is_empty() {
                return Err("metric identifier must specify non-empty 'family'".into());
            }
            if !mc.has("histogram_options") {
                return Err("metric control must specify 'histogram_options'".into());
            }
            if mc.msg("histogram_options").count("buckets") == 0 {
                return Err("histogram options must specify non-empty 'buckets'".into());
            }
        }
    }
    Ok(())
}

fn dynamic_batching(db: View<'_>, name: &str, max_batch_size: i64) -> Check {
    for size in db.ints("preferred_batch_size") {
        if size <= 0 {
            return Err(format!("dynamic batching preferred size must be positive for {name}"));
        }
        if size > max_batch_size {
            return Err(format!("dynamic batching preferred size must be <= max batch size for {name}"));
        }
    }
    let levels = db.uint("priority_levels");
    let queue_policies = db.map("priority_queue_policy");
    if levels != 0 {
        let default_level = db.uint("default_priority_level");
        if default_level == 0 || default_level > levels {
            return Err(format!("default priority level must be in range [1, {levels}] for {name}"));
        }
        for (key, _, _) in &queue_policies {
            let level: u64 = key.parse().unwrap_or(0);
            if level == 0 || level > levels {
                return Err(format!(
                    "priority queue policy must have priority level in range [1, {levels}] for {name}"
                ));
            }
        }
    }
    if db.bool("preserve_ordering") {
        if levels > 1 {
            return Err(format!("Only one priority level is allowed when 'preserve_ordering' is true for {name}"));
        }
        let delays = |p: View<'_>| {
            p.uint("default_timeout_microseconds") != 0 && p.enum_name("timeout_action", &TIMEOUT_ACTION) == "DELAY"
        };
        if delays(db.msg("default_queue_policy")) || queue_policies.iter().any(|(_, p, _)| delays(p.msg("value"))) {
            return Err(format!(
                "Queue policy can not have DELAY as timeout action when 'preserve_ordering' is true for {name}"
            ));
        }
    }
    Ok(())
}

fn sequence_batching(sb: View<'_>, name: &str, max_batch_size: i64) -> Check {
    for kind in ["CONTROL_SEQUENCE_START", "CONTROL_SEQUENCE_END", "CONTROL_SEQUENCE_READY"] {
        sequence_control(sb, name, kind, true)?;
    }
    if let Some(data_type) = sequence_control(sb, name, "CONTROL_SEQUENCE_CORRID", false)?
        && !["TYPE_UINT64", "TYPE_INT64", "TYPE_UINT32", "TYPE_INT32", "TYPE_STRING"].contains(&data_type.as_str())
    {
        return Err(format!(
            "unexpected data type for control CONTROL_SEQUENCE_CORRID for {name}. Allowed data types are \
             TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING"
        ));
    }
    if sb.has("oldest") {
        for size in sb.msg("oldest").ints("preferred_batch_size") {
            if size <= 0 {
                return Err(format!("sequence batching preferred batch size must be positive for {name}"));
            }
            if size > max_batch_size {
                return Err(format!("sequence batching preferred batch size must be <= max batch size for {name}"));
            }
        }
    }
    if sb.has("direct") {
        let u = sb.msg("direct").float("minimum_slot_utilization");
        if !(0.0..=1.0).contains(&u) {
            return Err(format!("sequence batching minimum slot utilization must be in range (0.0, 1.0] for {name}"));
        }
    }
    Ok(())
}

/// Triton's `GetBooleanSequenceControlProperties` (`boolean`) and `GetTypedSequenceControlProperties`: the
/// data type of the control of `kind`, when one is given.
fn sequence_control(
    sb: View<'_>,
    name: &str,
    kind: &str,
    boolean: bool,
) -> std::result::Result<Option<String>, String> {
    let mut seen_tensors: Vec<&str> = Vec::new();
    let mut found: Option<String> = None;
    for input in sb.msgs("control_input") {
        let tensor = input.str("name");
        if tensor.is_empty() {
            return Err(format!("sequence batching control tensor must have a name for {name}"));
        }
        if seen_tensors.contains(&tensor) {
            return Err(format!(
                "sequence batching control tensor '{tensor}' is specified for multiple control kinds for {name}"
            ));
        }
        seen_tensors.push(tensor);
        for control in input.msgs("control") {
            if control.enum_name("kind", &CONTROL_KIND) != kind {
                continue;
            }
            if found.is_some() {
                return Err(format!("sequence batching specifies multiple {kind} tensors for {name}"));
            }
            let (n_int, n_fp, n_bool) =
                (control.count("int32_false_true"), control.count("fp32_false_true"), control.count("bool_false_true"));
            if boolean {
                let given = [n_int, n_fp, n_bool].iter().filter(|n| **n != 0).count();
                if given == 0 {
                    return Err(format!(
                        "sequence batching must specify either 'int32_false_true', 'fp32_false_true' or \
                         'bool_false_true' for {kind} for {name}"
                    ));
                }
                if given > 1 {
                    return Err(format!(
                        "sequence batching specifies more than one from 'int32_false_true', 'fp32_false_true' \
                         and 'bool_false_true' for {kind} for {name}"
                    ));
                }
                let (field, n, data_type) = if n_int > 0 {
                    ("int32_false_true", n_int, "TYPE_INT32")
                } else if n_fp > 0 {
                    ("fp32_false_true", n_fp, "TYPE_FP32")
                } else {
                    ("bool_false_true", n_bool, "TYPE_BOOL")
                };
                if n != 2 {
                    return Err(format!(
                        "sequence batching control '{field}' must have exactly 2 entries for {kind} for {name}"
                    ));
                }
                found = Some(data_type.to_string());
            } else {
                found = Some(control.enum_name("data_type", &DATA_TYPE));
                if n_int > 0 || n_fp > 0 || n_bool > 0 {
                    return Err(format!(
                        "sequence batching must not specify either 'int32_false_true', 'fp32_false_true' or \
                         'bool_false_true' for {kind} for {name}"
                    ));
                }
            }
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------------
// Ensemble scheduling, within the ensemble's own config

#[derive(Default)]
struct Node {
    is_output: bool,
    ready: bool,
    prev: Vec<usize>,
    next: Vec<usize>,
}

/// Triton's `ValidateEnsembleSchedulingConfig` (and `BuildEnsembleGraph`).
fn ensemble_scheduling(c: View<'_>, name: &str) -> Check {
    if c.str("platform") != "ensemble" {
        return Err(format!("ensemble scheduling cannot be set for model '{name}' whose platform is not ensemble"));
    }
    if c.count("instance_group") != 0 {
        return Err(format!("instance group should not be specified for ensemble '{name}'"));
    }
    if c.has("optimization") {
        return Err(format!("optimization should not be specified for ensemble '{name}'"));
    }
    if c.count("model_warmup") != 0 {
        return Err(format!("model_warmup can not be specified for ensemble '{name}'"));
    }
    let steps = c.msg("ensemble_scheduling").msgs("step");
    if steps.is_empty() {
        return Err(format!("must specify 'step' for ensemble '{name}'"));
    }

    // The graph of ensemble tensors: an edge from each input of a step to each of its outputs.
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    let node = |index: &mut BTreeMap<String, usize>, nodes: &mut Vec<Node>, t: &str| -> usize {
        *index.entry(t.to_string()).or_insert_with(|| {
            nodes.push(Node::default());
            nodes.len() - 1
        })
    };
    for (i, step) in steps.iter().enumerate() {
        if step.str("model_name").is_empty() {
            return Err(format!("must specify 'model_name' in step {i} of ensemble '{name}'"));
        }
        let inputs = step.string_map("input_map");
        let outputs = step.string_map("output_map");
        if inputs.is_empty() {
            return Err(format!("must specify 'input_map' in step {i} of ensemble '{name}'"));
        }
        if outputs.is_empty() {
            return Err(format!("must specify 'output_map' in step {i} of ensemble '{name}'"));
        }
        let mut produced = Vec::new();
        for (_, tensor) in &outputs {
            let existed = index.contains_key(tensor);
            let n = node(&mut index, &mut nodes, tensor);
            if let Some(slot) = nodes.get_mut(n) {
                if existed && slot.is_output {
                    return Err(format!(
                        "ensemble tensor '{tensor}' can appear in an output map only once for ensemble '{name}' step {i}"
                    ));
                }
                slot.is_output = true;
            }
            produced.push(n);
        }
        for (_, tensor) in &inputs {
            let n = node(&mut index, &mut nodes, tensor);
            for &p in &produced {
                if let Some(out) = nodes.get_mut(p) {
                    out.prev.push(n);
                }
                if let Some(inp) = nodes.get_mut(n) {
                    inp.next.push(p);
                }
            }
        }
    }

    // Data flow from the ensemble's inputs.
    let mut queue = VecDeque::new();
    for input in c.msgs("input") {
        let t = input.str("name");
        let Some(&n) = index.get(t) else {
            return Err(format!("ensemble input '{t}' for ensemble {name}' is not used"));
        };
        if let Some(slot) = nodes.get_mut(n) {
            slot.ready = true;
        }
        queue.push_back(n);
    }
    while let Some(n) = queue.pop_front() {
        let next = nodes.get(n).map(|x| x.next.clone()).unwrap_or_default();
        for m in next {
            if nodes.get(m).is_some_and(|x| x.ready) {
                continue;
            }
            let all_ready = nodes.get(m).is_some_and(|x| x.prev.iter().all(|p| nodes.get(*p).is_some_and(|y| y.ready)));
            if all_ready {
                if let Some(slot) = nodes.get_mut(m) {
                    slot.ready = true;
                }
                queue.push_back(m);
            }
        }
    }
    let name_of = |n: usize| index.iter().find(|(_, v)| **v == n).map(|(k, _)| k.clone()).unwrap_or_default();
    let mut outputs = Vec::new();
    for output in c.msgs("output") {
        let t = output.str("name");
        let Some(&n) = index.get(t) else {
            return Err(format!("ensemble output '{t}' for ensemble {name}' is not used"));
        };
        if !nodes.get(n).is_some_and(|x| x.ready) {
            let mut message = format!("output '{t}' for ensemble '{name}' is not written");
            // Walk back along not-ready producers to the first tensor that nothing connects.
            let mut seen = vec![t.to_string()];
            let mut last = n;
            let mut cursor = Some(n);
            let mut cyclic = false;
            while let Some(at) = cursor {
                cursor = None;
                for p in nodes.get(at).map(|x| x.prev.clone()).unwrap_or_default() {
                    let pname = name_of(p);
                    if nodes.get(p).is_some_and(|x| x.ready) {
                        continue;
                    }
                    if seen.contains(&pname) {
                        cyclic = true;
                        continue;
                    }
                    seen.push(pname);
                    last = p;
                    cursor = Some(p);
                    break;
                }
            }
            if last != n {
                message.push_str(&format!(
                    ": at least one of its depending tensors, '{}', is not connected",
                    name_of(last)
                ));
            }
            if cyclic {
                // Not Triton's words: say why nothing connects.
                message.push_str(&format!(
                    " (the steps that write {} read each other's outputs: a cycle)",
                    seen.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
                ));
            }
            return Err(message);
        }
        outputs.push(t);
    }
    for (t, &n) in &index {
        if outputs.contains(&t.as_str()) {
            continue;
        }
        if !nodes.get(n).is_some_and(|x| x.ready && !x.next.is_empty()) {
            return Err(format!("ensemble tensor '{t}' is unused in ensemble '{name}'"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Inputs and outputs

/// Triton's `ValidateModelIOConfig`: each input and output, then the batch inputs and outputs; every message
/// ends with ` for <model>`.
pub(crate) fn validate_io_config(c: View<'_>) -> Check {
    let name = c.str("name");
    let platform = c.str("platform");
    let max_batch_size = c.int("max_batch_size");
    let suffix = |m: String| format!("{m} for {name}");
    for io in c.msgs("input") {
        io_shape(io, max_batch_size, "model input ").map_err(suffix)?;
        let format = io.enum_name("format", &INPUT_FORMAT);
        if (format == "FORMAT_NHWC" || format == "FORMAT_NCHW") && io.count("dims") != 3 {
            return Err(suffix("model input NHWC/NCHW require 3 dims".into()));
        }
        if platform != "tensorrt_plan" && io.bool("is_shape_tensor") {
            return Err(suffix("shape tensors are only supported for TensorRT platform".into()));
        }
        non_linear_format(io, platform, "input").map_err(suffix)?;
    }
    for io in c.msgs("output") {
        io_shape(io, max_batch_size, "model output ").map_err(suffix)?;
        if platform != "tensorrt_plan" && io.bool("is_shape_tensor") {
            return Err(suffix("shape tensors are only supported for TensorRT platform".into()));
        }
        non_linear_format(io, platform, "output").map_err(suffix)?;
    }
    batch_io(c).map_err(suffix)
}

fn non_linear_format(io: View<'_>, platform: &str, kind: &str) -> Check {
    if !io.bool("is_non_linear_format_io") {
        return Ok(());
    }
    if platform != "tensorrt_plan" {
        return Err("Non-linear IO format is only supported for the TensorRT platform".into());
    }
    if io.count("dims") != 3 {
        return Err(format!("Non-linear IO format {kind} requires 3 dims"));
    }
    Ok(())
}

/// Triton's `GetElementCount` for a shape: `None` when a dim is `-1` (variable), an error message for a
/// negative dim or an overflow.
fn element_count(dims: &[i64], what: &str) -> std::result::Result<Option<i64>, String> {
    let mut count: i64 = 0;
    for (i, &d) in dims.iter().enumerate() {
        if d == -1 {
            return Ok(None);
        }
        if d < 0 {
            return Err(format!("tensor '{what}' contains an invalid dimension in shape {}", dims_text(dims)));
        }
        if i == 0 {
            count = d;
        } else {
            count = count
                .checked_mul(d)
                .ok_or_else(|| format!("element count for tensor '{what}' exceeds maximum size of {}", i64::MAX))?;
        }
    }
    Ok(Some(count))
}

/// `[1,3,640,640]`, as Triton writes shapes.
pub(crate) fn dims_text(dims: &[i64]) -> String {
    let parts: Vec<String> = dims.iter().map(i64::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// Triton's `ValidateIOShape`.
fn io_shape(io: View<'_>, max_batch_size: i64, prefix: &str) -> Check {
    let name = io.str("name");
    if name.is_empty() {
        return Err(format!("{prefix}must specify 'name'"));
    }
    let prefix = format!("{prefix}'{name}' ");
    if io.enum_number("data_type", &DATA_TYPE) == 0 {
        return Err(format!("{prefix}must specify 'data_type'"));
    }
    let dims = io.ints("dims");
    if dims.is_empty() {
        return Err(format!("{prefix}must specify 'dims'"));
    }
    let has_reshape = io.has("reshape");
    let reshape = io.msg("reshape").ints("shape");
    if has_reshape && reshape.is_empty() && max_batch_size == 0 {
        return Err(format!(
            "{prefix}cannot have empty reshape for non-batching model as scalar tensors are not supported"
        ));
    }
    if dims.iter().any(|&d| d < 1 && d != -1) {
        return Err(format!("{prefix}dimension must be integer >= 1, or -1 to indicate a variable-size dimension"));
    }
    if !has_reshape {
        return Ok(());
    }
    if reshape.iter().any(|&d| d < 1 && d != -1) {
        return Err(format!(
            "{prefix}reshape dimensions must be integer >= 1, or -1 to indicate a variable-size dimension"
        ));
    }
    let dims_size = element_count(&dims, &format!("{name} dims"))?;
    let reshape_size = element_count(&reshape, &format!("{name} reshape"))?;
    // Equal counts, or both variable; an empty reshape (count 0) stands for a dims count of 1.
    if dims_size != reshape_size && !(reshape_size == Some(0) && dims_size == Some(1)) {
        return Err(format!("{prefix}has different size for dims and reshape"));
    }
    if dims_size.is_none() {
        // Both variable: the chunks between variable dims must hold the same counts.
        let chunks = |s: &[i64]| -> Vec<i64> {
            let mut out = Vec::new();
            let mut n: i64 = 1;
            for &d in s {
                if d == -1 {
                    out.push(n);
                    n = 1;
                } else {
                    n = n.saturating_mul(d);
                }
            }
            out.push(n);
            out
        };
        let (a, b) = (chunks(&dims), chunks(&reshape));
        if a.len() != b.len() {
            return Err(format!("{prefix}has different number of variable-size dimensions for dims and reshape"));
        }
        if a != b {
            return Err(format!("{prefix}has different size for dims and reshape"));
        }
    }
    Ok(())
}

/// Triton's `ValidateBatchIO`.
fn batch_io(c: View<'_>) -> Check {
    let inputs: Vec<&str> = c.msgs("input").iter().map(|io| io.str("name")).collect();
    let outputs: Vec<&str> = c.msgs("output").iter().map(|io| io.str("name")).collect();
    for bi in c.msgs("batch_input") {
        let kind = bi.enum_name("kind", &BATCH_INPUT_KIND);
        if BATCH_INPUT_KIND.number_of(&kind).is_none() {
            return Err(format!("unknown batch input kind '{kind}'"));
        }
        let sources = bi.strs("source_input");
        if sources.len() != 1 {
            return Err(format!("batch input kind '{kind}' expects 1 source input, got {}", sources.len()));
        }
        let dt = bi.enum_name("data_type", &DATA_TYPE);
        if dt != "TYPE_INT32" && dt != "TYPE_FP32" {
            return Err("batch input data type must be TYPE_INT32 or TYPE_FP32".into());
        }
        if let Some(s) = sources.iter().find(|s| !inputs.contains(s)) {
            return Err(format!("unknown source input name '{s}'"));
        }
    }
    for bo in c.msgs("batch_output") {
        let kind = bo.enum_name("kind", &BATCH_OUTPUT_KIND);
        if BATCH_OUTPUT_KIND.number_of(&kind).is_none() {
            return Err(format!("unknown batch output kind '{kind}'"));
        }
        let sources = bo.strs("source_input");
        if sources.len() != 1 {
            return Err(format!("batch output kind '{kind}' expects 1 source input, got {}", sources.len()));
        }
        if let Some(s) = sources.iter().find(|s| !inputs.contains(s)) {
            return Err(format!("unknown source input name '{s}'"));
        }
        let mut targets: Vec<&str> = Vec::new();
        for t in bo.strs("target_name") {
            if !outputs.contains(&t) {
                return Err(format!("unknown target output name '{t}'"));
            }
            if targets.contains(&t) {
                return Err(format!("target output name '{t}' can only be specified once"));
            }
            targets.push(t);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Instance groups

/// Triton's `NormalizeInstanceGroup` then `ValidateInstanceGroup` (not for ensembles). `gpus` are the GPU
/// ids Triton would see; `None` when they are not known, which skips the checks that depend on the machine
/// (a `KIND_GPU` or `KIND_AUTO` group's ids other than negative ones, and a missing GPU).
pub(crate) fn validate_instance_groups(c: View<'_>, gpus: Option<&[i32]>) -> Check {
    if c.has("ensemble_scheduling") {
        return Ok(());
    }
    let name = c.str("name");
    let platform = c.str("platform");
    for (i, group) in c.msgs("instance_group").iter().enumerate() {
        let given = group.str("name");
        let gname = if given.is_empty() { format!("{name}_{i}") } else { given.to_string() };
        let ids: Vec<i64> = group.ints("gpus");
        let mut kind = group.enum_name("kind", &INSTANCE_GROUP_KIND);
        if kind == "KIND_AUTO" {
            // No GPU, or a listed GPU that is not there: KIND_CPU; else KIND_GPU.
            kind = match gpus {
                Some(have) if have.is_empty() || ids.iter().any(|g| !have.iter().any(|h| i64::from(*h) == *g)) => {
                    "KIND_CPU".into()
                }
                _ => "KIND_GPU".into(),
            };
        }
        match kind.as_str() {
            "KIND_MODEL" if !ids.is_empty() => {
                return Err(format!(
                    "instance group {gname} of model {name} has kind KIND_MODEL but specifies one or more GPUs"
                ));
            }
            "KIND_CPU" if !ids.is_empty() => {
                return Err(format!(
                    "instance group {gname} of model {name} has kind KIND_CPU but specifies one or more GPUs"
                ));
            }
            "KIND_GPU" => {
                if ids.is_empty() && gpus.is_some_and(<[i32]>::is_empty) {
                    return Err(format!(
                        "instance group {gname} of model {name} has kind KIND_GPU but no GPUs are available"
                    ));
                }
                for &g in &ids {
                    let known = match gpus {
                        Some(have) => have.iter().any(|h| i64::from(*h) == g),
                        None => g >= 0,
                    };
                    if !known {
                        let list: Vec<String> = gpus.unwrap_or_default().iter().map(i32::to_string).collect();
                        return Err(format!(
                            "instance group {gname} of model {name} specifies invalid or unsupported gpu id {g}. \
                             GPUs with at least the minimum required CUDA compute compatibility of \
                             {MIN_COMPUTE_CAPABILITY} are: {}",
                            list.join(", ")
                        ));
                    }
                }
            }
            "KIND_MODEL" | "KIND_CPU" => {}
            other => {
                return Err(format!("instance group {gname} of model {name} has unexpected kind {other}"));
            }
        }
        let profiles = group.strs("profile");
        if platform != "tensorrt_plan" && !profiles.is_empty() {
            return Err(format!(
                "instance group {gname} of model {name} and platform {platform}specifies profile field which is \
                 only supported for TensorRT models"
            ));
        }
        for p in profiles {
            let ok = !p.is_empty() && p.trim_start().parse::<i64>().is_ok_and(|v| v >= 0);
            if !ok {
                return Err(format!(
                    "instance group {gname} of model {name} and platform {platform} specifies invalid profile {p}. \
                     The field should contain the string representation of a non-negative integer."
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Ensembles, across models

/// One tensor of an ensemble as a model's config declares it (Triton's `TensorNode`).
struct TensorNode {
    model: String,
    data_type: i64,
    dims: Vec<i64>,
    full: Vec<i64>,
}

impl TensorNode {
    fn new(model: &str, batching: bool, data_type: i64, dims: &[i64]) -> Self {
        let mut full = Vec::with_capacity(dims.len() + 1);
        if batching {
            full.push(-1);
        }
        full.extend_from_slice(dims);
        TensorNode { model: model.to_string(), data_type, dims: dims.to_vec(), full }
    }
}

fn wildcard_eq(a: &[i64], b: &[i64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| *x == -1 || *y == -1 || x == y)
}

fn type_name(n: i64) -> String {
    DATA_TYPE.name_of(n).map_or_else(|| n.to_string(), str::to_string)
}

/// Triton's `ValidateTensorConsistency`: `lhs` was inferred first.
fn consistent(lhs: &TensorNode, rhs: &TensorNode, prefix: &str) -> Check {
    if lhs.data_type != rhs.data_type {
        return Err(format!(
            "{prefix}inconsistent data type: {} is inferred from model {} while {} is inferred from model {}",
            type_name(lhs.data_type),
            lhs.model,
            type_name(rhs.data_type),
            rhs.model
        ));
    }
    // Equal with wildcards, or equal once the batch dimension is prepended (a tensor shared between a
    // non-batching model, [-1,d...], and a batching one, [d...]).
    if !wildcard_eq(&lhs.dims, &rhs.dims) && !wildcard_eq(&lhs.full, &rhs.full) {
        return Err(format!(
            "{prefix}inconsistent shape: {} is inferred from model {} while {} is inferred from model {}",
            dims_text(&lhs.full),
            lhs.model,
            dims_text(&rhs.full),
            rhs.model
        ));
    }
    Ok(())
}

/// Triton's `ValidateEnsembleConfig`, once every step's model is loaded (`models`: name → completed config).
/// Checks each step's `max_batch_size` against the ensemble's, every model input mapped once (unless
/// optional) and every mapped name an input or output of the model, each ensemble tensor's data type and
/// shape consistent between the ensemble's declaration, its producer and its readers, and that no step
/// reads tensors that come from different decoupled models.
pub(crate) fn validate_ensemble(ensemble: &ModelConfig, models: &HashMap<String, ModelConfig>) -> Check {
    let Some(sched) = &ensemble.ensemble else {
        return Ok(());
    };
    let name = ensemble.name.as_str();
    let batching = ensemble.max_batch_size > 0;
    let mut tensors: HashMap<String, TensorNode> = HashMap::new();
    for t in ensemble.inputs.iter().chain(&ensemble.outputs) {
        let dims = t.reshape.as_deref().unwrap_or(&t.dims);
        tensors.entry(t.name.clone()).or_insert_with(|| TensorNode::new(name, batching, t.data_type.number(), dims));
    }
    for step in &sched.steps {
        let Some(model) = models.get(&step.model_name) else {
            continue;
        };
        let m = step.model_name.as_str();
        if model.max_batch_size != 0 && model.max_batch_size < ensemble.max_batch_size {
            return Err(format!(
                "ensemble {name} allows maximum batch size {}, but it contains model {m} which only allows \
                 maximum batch size to be {}",
                ensemble.max_batch_size, model.max_batch_size
            ));
        }
        let step_batching = model.max_batch_size > 0;
        for (key, value) in &step.input_map {
            if model.input(key).is_none() {
                return Err(format!(
                    "in ensemble {name}, ensemble tensor {value} is mapping to non-existing input {key} in model {m}"
                ));
            }
        }
        for input in &model.inputs {
            match step.input_map.iter().find(|(k, _)| *k == input.name) {
                Some((_, value)) => {
                    let node = TensorNode::new(m, step_batching, input.data_type.number(), &input.dims);
                    match tensors.get(value) {
                        Some(existing) => {
                            consistent(existing, &node, &format!("in ensemble {name}, ensemble tensor {value}: "))?;
                        }
                        None => {
                            tensors.insert(value.clone(), node);
                        }
                    }
                }
                None if input.optional => {}
                None => {
                    return Err(format!(
                        "in ensemble {name}, input {} in model {m} is not mapped to any ensemble tensors",
                        input.name
                    ));
                }
            }
        }
        for (key, value) in &step.output_map {
            let Some(output) = model.output(key) else {
                return Err(format!(
                    "in ensemble {name}, ensemble tensor {value} is mapped from non-existing output {key} in model {m}"
                ));
            };
            let node = TensorNode::new(m, step_batching, output.data_type.number(), &output.dims);
            match tensors.get(value) {
                Some(existing) => {
                    consistent(existing, &node, &format!("in ensemble {name}, ensemble tensor {value}: "))?;
                }
                None => {
                    tensors.insert(value.clone(), node);
                }
            }
        }
    }
    decoupled_branches(ensemble, models)
}

/// The decoupled part of Triton's `ValidateEnsembleConfig`: each tensor carries a label, a new one after
/// each decoupled step; a step whose inputs carry different labels is an error.
fn decoupled_branches(ensemble: &ModelConfig, models: &HashMap<String, ModelConfig>) -> Check {
    let Some(sched) = &ensemble.ensemble else {
        return Ok(());
    };
    if !sched.steps.iter().any(|s| models.get(&s.model_name).is_some_and(|m| m.decoupled)) {
        return Ok(());
    }
    let mut label: HashMap<&str, usize> = ensemble.inputs.iter().map(|t| (t.name.as_str(), 0)).collect();
    let mut next_label = 0;
    let mut done = vec![false; sched.steps.len()];
    loop {
        let mut progressed = false;
        for (i, step) in sched.steps.iter().enumerate() {
            if done.get(i) == Some(&true) || !step.input_map.iter().all(|(_, v)| label.contains_key(v.as_str())) {
                continue;
            }
            let labels: Vec<usize> =
                step.input_map.iter().filter_map(|(_, v)| label.get(v.as_str()).copied()).collect();
            let first = labels.first().copied().unwrap_or(0);
            if labels.iter().any(|l| *l != first) {
                return Err(format!(
                    "in ensemble {}, step of model '{}' receives inputs originated from different decoupled models",
                    ensemble.name, step.model_name
                ));
            }
            let decoupled = models.get(&step.model_name).is_some_and(|m| m.decoupled);
            let out = if decoupled {
                next_label += 1;
                next_label
            } else {
                first
            };
            for (_, v) in &step.output_map {
                label.insert(v.as_str(), out);
            }
            if let Some(d) = done.get_mut(i) {
                *d = true;
            }
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    // The ensemble's outputs are read by the "sink": they too must share one label.
    let labels: Vec<usize> = ensemble.outputs.iter().filter_map(|t| label.get(t.name.as_str()).copied()).collect();
    if labels.first().is_some_and(|first| labels.iter().any(|l| l != first)) {
        return Err(format!(
            "in ensemble {}, step of model '{}' receives inputs originated from different decoupled models",
            ensemble.name, ensemble.name
        ));
    }
    Ok(())
}
