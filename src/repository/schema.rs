//! Triton's `ModelConfig` schema (every message, field, type and enum of `model_config.proto` in
//! triton-inference-server/common), as data, and the check that holds a parsed `config.pbtxt` to it the way
//! protobuf's text-format parser (which Triton uses) does.
//!
//! The tables below were transcribed by hand from `protobuf/model_config.proto` (package `inference`, proto3;
//! checked against common@83adf7c, 2026-07): names, field numbers, types, labels, oneofs and enum values.
//! `map<K, V>` fields are repeated messages of a `<Name>Entry` type with `key = 1` and `value = 2`, as
//! protobuf defines them.
//!
//! [`check`] walks the generic [`Message`] tree from [`pbtxt`](super::pbtxt) and rejects, with the file, line
//! and column, what protobuf's `TextFormat::Parser` rejects:
//!
//! - a field the message type does not have (`Message type "inference.ModelInput" has no field named
//!   "reshpe"`), with the nearest known name when there is one within a small edit distance;
//! - a value of the wrong kind: an integer field given a string or a float, a string field given a number,
//!   a message field given a scalar (or the reverse), a boolean that is not `true`/`True`/`t`/`false`/
//!   `False`/`f`/`0`/`1`;
//! - an integer out of its field's range (`int32`, `uint32`, `int64`, `uint64`; negative for unsigned);
//! - an enum value that is not one of its type's names (numbers are accepted, as proto3's open enums are);
//! - a non-repeated field given a second time after a non-default value (protobuf's `HasField` rule: a
//!   proto3 scalar equal to its default does not count as set), and two members of one `oneof`;
//! - a list `[ ... ]` given to a non-repeated field.

use std::fmt;
use std::path::Path;

use super::pbtxt::{Field, Message, Value};
use crate::error::{Error, Result};

/// A field's value type.
#[derive(Clone, Copy)]
pub(crate) enum Type {
    Int32,
    Uint32,
    Int64,
    Uint64,
    Float,
    Double,
    Bool,
    String,
    Enum(&'static EnumType),
    Message(&'static MessageType),
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Type {
    /// The type as a `.proto` file names it: `int32`, `inference.DataType`.
    pub(crate) fn name(&self) -> String {
        match self {
            Type::Int32 => "int32".into(),
            Type::Uint32 => "uint32".into(),
            Type::Int64 => "int64".into(),
            Type::Uint64 => "uint64".into(),
            Type::Float => "float".into(),
            Type::Double => "double".into(),
            Type::Bool => "bool".into(),
            Type::String => "string".into(),
            Type::Enum(e) => e.name.into(),
            Type::Message(m) => m.name.into(),
        }
    }
}

/// An enum type: its full name and its values.
#[derive(Debug)]
pub(crate) struct EnumType {
    pub(crate) name: &'static str,
    pub(crate) values: &'static [(&'static str, i32)],
}

impl EnumType {
    /// The name of the value numbered `n`.
    pub(crate) fn name_of(&self, n: i64) -> Option<&'static str> {
        self.values.iter().find(|(_, v)| i64::from(*v) == n).map(|(name, _)| *name)
    }

    /// The number of the value called `name`.
    pub(crate) fn number_of(&self, name: &str) -> Option<i32> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// A message type: its full name and its fields.
#[derive(Debug)]
pub(crate) struct MessageType {
    pub(crate) name: &'static str,
    pub(crate) fields: &'static [FieldDef],
}

impl MessageType {
    /// The field called `name`.
    pub(crate) fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One field of a message type.
#[derive(Debug)]
pub(crate) struct FieldDef {
    pub(crate) name: &'static str,
    /// The field number (transcribed with the rest; the tests check that numbers are unique per message).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) number: u32,
    pub(crate) ty: Type,
    pub(crate) repeated: bool,
    /// The `oneof` the field belongs to.
    pub(crate) oneof: Option<&'static str>,
}

const fn one(name: &'static str, number: u32, ty: Type) -> FieldDef {
    FieldDef { name, number, ty, repeated: false, oneof: None }
}

const fn rep(name: &'static str, number: u32, ty: Type) -> FieldDef {
    FieldDef { name, number, ty, repeated: true, oneof: None }
}

const fn of(oneof: &'static str, name: &'static str, number: u32, ty: Type) -> FieldDef {
    FieldDef { name, number, ty, repeated: false, oneof: Some(oneof) }
}

/// A `map<K, V>` field: a repeated field of `entry`.
const fn map(name: &'static str, number: u32, entry: &'static MessageType) -> FieldDef {
    FieldDef { name, number, ty: Type::Message(entry), repeated: true, oneof: None }
}

use Type::{Bool, Double, Float, Int32, Int64, String as Str, Uint32, Uint64};

// ---------------------------------------------------------------------------------------------------
// Enums

pub(crate) static DATA_TYPE: EnumType = EnumType {
    name: "inference.DataType",
    values: &[
        ("TYPE_INVALID", 0),
        ("TYPE_BOOL", 1),
        ("TYPE_UINT8", 2),
        ("TYPE_UINT16", 3),
        ("TYPE_UINT32", 4),
        ("TYPE_UINT64", 5),
        ("TYPE_INT8", 6),
        ("TYPE_INT16", 7),
        ("TYPE_INT32", 8),
        ("TYPE_INT64", 9),
        ("TYPE_FP16", 10),
        ("TYPE_FP32", 11),
        ("TYPE_FP64", 12),
        ("TYPE_STRING", 13),
        ("TYPE_BF16", 14),
    ],
};

pub(crate) static INSTANCE_GROUP_KIND: EnumType = EnumType {
    name: "inference.ModelInstanceGroup.Kind",
    values: &[("KIND_AUTO", 0), ("KIND_GPU", 1), ("KIND_CPU", 2), ("KIND_MODEL", 3)],
};

static SECONDARY_DEVICE_KIND: EnumType =
    EnumType { name: "inference.ModelInstanceGroup.SecondaryDevice.SecondaryDeviceKind", values: &[("KIND_NVDLA", 0)] };

pub(crate) static INPUT_FORMAT: EnumType = EnumType {
    name: "inference.ModelInput.Format",
    values: &[("FORMAT_NONE", 0), ("FORMAT_NHWC", 1), ("FORMAT_NCHW", 2)],
};

pub(crate) static BATCH_INPUT_KIND: EnumType = EnumType {
    name: "inference.BatchInput.Kind",
    values: &[
        ("BATCH_ELEMENT_COUNT", 0),
        ("BATCH_ACCUMULATED_ELEMENT_COUNT", 1),
        ("BATCH_ACCUMULATED_ELEMENT_COUNT_WITH_ZERO", 2),
        ("BATCH_MAX_ELEMENT_COUNT_AS_SHAPE", 3),
        ("BATCH_ITEM_SHAPE", 4),
        ("BATCH_ITEM_SHAPE_FLATTEN", 5),
    ],
};

pub(crate) static BATCH_OUTPUT_KIND: EnumType =
    EnumType { name: "inference.BatchOutput.Kind", values: &[("BATCH_SCATTER_WITH_INPUT_SHAPE", 0)] };

static MODEL_PRIORITY: EnumType = EnumType {
    name: "inference.ModelOptimizationPolicy.ModelPriority",
    values: &[("PRIORITY_DEFAULT", 0), ("PRIORITY_MAX", 1), ("PRIORITY_MIN", 2)],
};

pub(crate) static TIMEOUT_ACTION: EnumType =
    EnumType { name: "inference.ModelQueuePolicy.TimeoutAction", values: &[("REJECT", 0), ("DELAY", 1)] };

pub(crate) static CONTROL_KIND: EnumType = EnumType {
    name: "inference.ModelSequenceBatching.Control.Kind",
    values: &[
        ("CONTROL_SEQUENCE_START", 0),
        ("CONTROL_SEQUENCE_READY", 1),
        ("CONTROL_SEQUENCE_END", 2),
        ("CONTROL_SEQUENCE_CORRID", 3),
    ],
};

// ---------------------------------------------------------------------------------------------------
// Messages, in the order of model_config.proto

static STRING_STRING_ENTRY_FIELDS: [FieldDef; 2] = [one("key", 1, Str), one("value", 2, Str)];

static RATE_LIMITER_RESOURCE: MessageType = MessageType {
    name: "inference.ModelRateLimiter.Resource",
    fields: &[one("name", 1, Str), one("global", 2, Bool), one("count", 3, Uint32)],
};

static RATE_LIMITER: MessageType = MessageType {
    name: "inference.ModelRateLimiter",
    fields: &[rep("resources", 1, Type::Message(&RATE_LIMITER_RESOURCE)), one("priority", 2, Uint32)],
};

static SECONDARY_DEVICE: MessageType = MessageType {
    name: "inference.ModelInstanceGroup.SecondaryDevice",
    fields: &[one("kind", 1, Type::Enum(&SECONDARY_DEVICE_KIND)), one("device_id", 2, Int64)],
};

pub(crate) static INSTANCE_GROUP: MessageType = MessageType {
    name: "inference.ModelInstanceGroup",
    fields: &[
        one("name", 1, Str),
        one("kind", 4, Type::Enum(&INSTANCE_GROUP_KIND)),
        one("count", 2, Int32),
        one("rate_limiter", 6, Type::Message(&RATE_LIMITER)),
        rep("gpus", 3, Int32),
        rep("secondary_devices", 8, Type::Message(&SECONDARY_DEVICE)),
        rep("profile", 5, Str),
        one("passive", 7, Bool),
        one("host_policy", 9, Str),
    ],
};

static TENSOR_RESHAPE: MessageType =
    MessageType { name: "inference.ModelTensorReshape", fields: &[rep("shape", 1, Int64)] };

pub(crate) static MODEL_INPUT: MessageType = MessageType {
    name: "inference.ModelInput",
    fields: &[
        one("name", 1, Str),
        one("data_type", 2, Type::Enum(&DATA_TYPE)),
        one("format", 3, Type::Enum(&INPUT_FORMAT)),
        rep("dims", 4, Int64),
        one("reshape", 5, Type::Message(&TENSOR_RESHAPE)),
        one("is_shape_tensor", 6, Bool),
        one("allow_ragged_batch", 7, Bool),
        one("optional", 8, Bool),
        one("is_non_linear_format_io", 9, Bool),
    ],
};

pub(crate) static MODEL_OUTPUT: MessageType = MessageType {
    name: "inference.ModelOutput",
    fields: &[
        one("name", 1, Str),
        one("data_type", 2, Type::Enum(&DATA_TYPE)),
        rep("dims", 3, Int64),
        one("reshape", 5, Type::Message(&TENSOR_RESHAPE)),
        one("label_filename", 4, Str),
        one("is_shape_tensor", 6, Bool),
        one("is_non_linear_format_io", 7, Bool),
    ],
};

static BATCH_INPUT: MessageType = MessageType {
    name: "inference.BatchInput",
    fields: &[
        one("kind", 1, Type::Enum(&BATCH_INPUT_KIND)),
        rep("target_name", 2, Str),
        one("data_type", 3, Type::Enum(&DATA_TYPE)),
        rep("source_input", 4, Str),
    ],
};

static BATCH_OUTPUT: MessageType = MessageType {
    name: "inference.BatchOutput",
    fields: &[rep("target_name", 1, Str), one("kind", 2, Type::Enum(&BATCH_OUTPUT_KIND)), rep("source_input", 3, Str)],
};

static VERSION_POLICY_LATEST: MessageType =
    MessageType { name: "inference.ModelVersionPolicy.Latest", fields: &[one("num_versions", 1, Uint32)] };

static VERSION_POLICY_ALL: MessageType = MessageType { name: "inference.ModelVersionPolicy.All", fields: &[] };

static VERSION_POLICY_SPECIFIC: MessageType =
    MessageType { name: "inference.ModelVersionPolicy.Specific", fields: &[rep("versions", 1, Int64)] };

static VERSION_POLICY: MessageType = MessageType {
    name: "inference.ModelVersionPolicy",
    fields: &[
        of("policy_choice", "latest", 1, Type::Message(&VERSION_POLICY_LATEST)),
        of("policy_choice", "all", 2, Type::Message(&VERSION_POLICY_ALL)),
        of("policy_choice", "specific", 3, Type::Message(&VERSION_POLICY_SPECIFIC)),
    ],
};

static OPT_GRAPH: MessageType =
    MessageType { name: "inference.ModelOptimizationPolicy.Graph", fields: &[one("level", 1, Int32)] };

static GRAPH_SPEC_SHAPE: MessageType =
    MessageType { name: "inference.ModelOptimizationPolicy.Cuda.GraphSpec.Shape", fields: &[rep("dim", 1, Int64)] };

static GRAPH_SPEC_INPUT_ENTRY: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.Cuda.GraphSpec.InputEntry",
    fields: &[one("key", 1, Str), one("value", 2, Type::Message(&GRAPH_SPEC_SHAPE))],
};

static GRAPH_SPEC_LOWER_BOUND_INPUT_ENTRY: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.Cuda.GraphSpec.LowerBound.InputEntry",
    fields: &[one("key", 1, Str), one("value", 2, Type::Message(&GRAPH_SPEC_SHAPE))],
};

static GRAPH_SPEC_LOWER_BOUND: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.Cuda.GraphSpec.LowerBound",
    fields: &[one("batch_size", 1, Int32), map("input", 2, &GRAPH_SPEC_LOWER_BOUND_INPUT_ENTRY)],
};

static GRAPH_SPEC: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.Cuda.GraphSpec",
    fields: &[
        one("batch_size", 1, Int32),
        map("input", 2, &GRAPH_SPEC_INPUT_ENTRY),
        one("graph_lower_bound", 3, Type::Message(&GRAPH_SPEC_LOWER_BOUND)),
    ],
};

static OPT_CUDA: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.Cuda",
    fields: &[
        one("graphs", 1, Bool),
        one("busy_wait_events", 2, Bool),
        rep("graph_spec", 3, Type::Message(&GRAPH_SPEC)),
        one("output_copy_stream", 4, Bool),
    ],
};

static ACCELERATOR_PARAMETERS_ENTRY: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator.ParametersEntry",
    fields: &STRING_STRING_ENTRY_FIELDS,
};

static ACCELERATOR: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator",
    fields: &[one("name", 1, Str), map("parameters", 2, &ACCELERATOR_PARAMETERS_ENTRY)],
};

static EXECUTION_ACCELERATORS: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy.ExecutionAccelerators",
    fields: &[
        rep("gpu_execution_accelerator", 1, Type::Message(&ACCELERATOR)),
        rep("cpu_execution_accelerator", 2, Type::Message(&ACCELERATOR)),
    ],
};

static PINNED_MEMORY_BUFFER: MessageType =
    MessageType { name: "inference.ModelOptimizationPolicy.PinnedMemoryBuffer", fields: &[one("enable", 1, Bool)] };

static OPTIMIZATION: MessageType = MessageType {
    name: "inference.ModelOptimizationPolicy",
    fields: &[
        one("graph", 1, Type::Message(&OPT_GRAPH)),
        one("priority", 2, Type::Enum(&MODEL_PRIORITY)),
        one("cuda", 3, Type::Message(&OPT_CUDA)),
        one("execution_accelerators", 4, Type::Message(&EXECUTION_ACCELERATORS)),
        one("input_pinned_memory", 5, Type::Message(&PINNED_MEMORY_BUFFER)),
        one("output_pinned_memory", 6, Type::Message(&PINNED_MEMORY_BUFFER)),
        one("gather_kernel_buffer_threshold", 7, Uint32),
        one("eager_batching", 8, Bool),
    ],
};

static QUEUE_POLICY: MessageType = MessageType {
    name: "inference.ModelQueuePolicy",
    fields: &[
        one("timeout_action", 1, Type::Enum(&TIMEOUT_ACTION)),
        one("default_timeout_microseconds", 2, Uint64),
        one("allow_timeout_override", 3, Bool),
        one("max_queue_size", 4, Uint32),
    ],
};

static PRIORITY_QUEUE_POLICY_ENTRY: MessageType = MessageType {
    name: "inference.ModelDynamicBatching.PriorityQueuePolicyEntry",
    fields: &[one("key", 1, Uint64), one("value", 2, Type::Message(&QUEUE_POLICY))],
};

static DYNAMIC_BATCHING: MessageType = MessageType {
    name: "inference.ModelDynamicBatching",
    fields: &[
        rep("preferred_batch_size", 1, Int32),
        one("max_queue_delay_microseconds", 2, Uint64),
        one("preserve_ordering", 3, Bool),
        one("priority_levels", 4, Uint64),
        one("default_priority_level", 5, Uint64),
        one("default_queue_policy", 6, Type::Message(&QUEUE_POLICY)),
        map("priority_queue_policy", 7, &PRIORITY_QUEUE_POLICY_ENTRY),
    ],
};

static SEQUENCE_CONTROL: MessageType = MessageType {
    name: "inference.ModelSequenceBatching.Control",
    fields: &[
        one("kind", 1, Type::Enum(&CONTROL_KIND)),
        rep("int32_false_true", 2, Int32),
        rep("fp32_false_true", 3, Float),
        rep("bool_false_true", 5, Bool),
        one("data_type", 4, Type::Enum(&DATA_TYPE)),
    ],
};

static SEQUENCE_CONTROL_INPUT: MessageType = MessageType {
    name: "inference.ModelSequenceBatching.ControlInput",
    fields: &[one("name", 1, Str), rep("control", 2, Type::Message(&SEQUENCE_CONTROL))],
};

static SEQUENCE_INITIAL_STATE: MessageType = MessageType {
    name: "inference.ModelSequenceBatching.InitialState",
    fields: &[
        one("data_type", 1, Type::Enum(&DATA_TYPE)),
        rep("dims", 2, Int64),
        of("state_data", "zero_data", 3, Bool),
        of("state_data", "data_file", 4, Str),
        one("name", 5, Str),
    ],
};

static SEQUENCE_STATE: MessageType = MessageType {
    name: "inference.ModelSequenceBatching.State",
    fields: &[
        one("input_name", 1, Str),
        one("output_name", 2, Str),
        one("data_type", 3, Type::Enum(&DATA_TYPE)),
        rep("dims", 4, Int64),
        rep("initial_state", 5, Type::Message(&SEQUENCE_INITIAL_STATE)),
        one("use_same_buffer_for_input_output", 6, Bool),
        one("use_growable_memory", 7, Bool),
    ],
};

static SEQUENCE_STRATEGY_DIRECT: MessageType = MessageType {
    name: "inference.ModelSequenceBatching.StrategyDirect",
    fields: &[one("max_queue_delay_microseconds", 1, Uint64), one("minimum_slot_utilization", 2, Float)],
};

static SEQUENCE_STRATEGY_OLDEST: MessageType = MessageType {
    name: "inference.ModelSequenceBatching.StrategyOldest",
    fields: &[
        one("max_candidate_sequences", 1, Int32),
        rep("preferred_batch_size", 2, Int32),
        one("max_queue_delay_microseconds", 3, Uint64),
        one("preserve_ordering", 4, Bool),
    ],
};

static SEQUENCE_BATCHING: MessageType = MessageType {
    name: "inference.ModelSequenceBatching",
    fields: &[
        of("strategy_choice", "direct", 3, Type::Message(&SEQUENCE_STRATEGY_DIRECT)),
        of("strategy_choice", "oldest", 4, Type::Message(&SEQUENCE_STRATEGY_OLDEST)),
        one("max_sequence_idle_microseconds", 1, Uint64),
        rep("control_input", 2, Type::Message(&SEQUENCE_CONTROL_INPUT)),
        rep("state", 5, Type::Message(&SEQUENCE_STATE)),
        one("iterative_sequence", 6, Bool),
    ],
};

static STEP_INPUT_MAP_ENTRY: MessageType =
    MessageType { name: "inference.ModelEnsembling.Step.InputMapEntry", fields: &STRING_STRING_ENTRY_FIELDS };

static STEP_OUTPUT_MAP_ENTRY: MessageType =
    MessageType { name: "inference.ModelEnsembling.Step.OutputMapEntry", fields: &STRING_STRING_ENTRY_FIELDS };

static ENSEMBLE_STEP: MessageType = MessageType {
    name: "inference.ModelEnsembling.Step",
    fields: &[
        one("model_name", 1, Str),
        one("model_version", 2, Int64),
        map("input_map", 3, &STEP_INPUT_MAP_ENTRY),
        map("output_map", 4, &STEP_OUTPUT_MAP_ENTRY),
        one("model_namespace", 5, Str),
    ],
};

static ENSEMBLING: MessageType = MessageType {
    name: "inference.ModelEnsembling",
    fields: &[rep("step", 1, Type::Message(&ENSEMBLE_STEP)), one("max_inflight_requests", 2, Uint32)],
};

static MODEL_PARAMETER: MessageType =
    MessageType { name: "inference.ModelParameter", fields: &[one("string_value", 1, Str)] };

static WARMUP_INPUT: MessageType = MessageType {
    name: "inference.ModelWarmup.Input",
    fields: &[
        one("data_type", 1, Type::Enum(&DATA_TYPE)),
        rep("dims", 2, Int64),
        of("input_data_type", "zero_data", 3, Bool),
        of("input_data_type", "random_data", 4, Bool),
        of("input_data_type", "input_data_file", 5, Str),
    ],
};

static WARMUP_INPUTS_ENTRY: MessageType = MessageType {
    name: "inference.ModelWarmup.InputsEntry",
    fields: &[one("key", 1, Str), one("value", 2, Type::Message(&WARMUP_INPUT))],
};

static MODEL_WARMUP: MessageType = MessageType {
    name: "inference.ModelWarmup",
    fields: &[
        one("name", 1, Str),
        one("batch_size", 2, Uint32),
        map("inputs", 3, &WARMUP_INPUTS_ENTRY),
        one("count", 4, Uint32),
    ],
};

static MODEL_OPERATIONS: MessageType =
    MessageType { name: "inference.ModelOperations", fields: &[rep("op_library_filename", 1, Str)] };

static TRANSACTION_POLICY: MessageType =
    MessageType { name: "inference.ModelTransactionPolicy", fields: &[one("decoupled", 1, Bool)] };

static AGENT_PARAMETERS_ENTRY: MessageType =
    MessageType { name: "inference.ModelRepositoryAgents.Agent.ParametersEntry", fields: &STRING_STRING_ENTRY_FIELDS };

static AGENT: MessageType = MessageType {
    name: "inference.ModelRepositoryAgents.Agent",
    fields: &[one("name", 1, Str), map("parameters", 2, &AGENT_PARAMETERS_ENTRY)],
};

static REPOSITORY_AGENTS: MessageType =
    MessageType { name: "inference.ModelRepositoryAgents", fields: &[rep("agents", 1, Type::Message(&AGENT))] };

static RESPONSE_CACHE: MessageType =
    MessageType { name: "inference.ModelResponseCache", fields: &[one("enable", 1, Bool)] };

static METRIC_IDENTIFIER: MessageType =
    MessageType { name: "inference.ModelMetrics.MetricControl.MetricIdentifier", fields: &[one("family", 1, Str)] };

static HISTOGRAM_OPTIONS: MessageType =
    MessageType { name: "inference.ModelMetrics.MetricControl.HistogramOptions", fields: &[rep("buckets", 1, Double)] };

static METRIC_CONTROL: MessageType = MessageType {
    name: "inference.ModelMetrics.MetricControl",
    fields: &[
        one("metric_identifier", 1, Type::Message(&METRIC_IDENTIFIER)),
        of("metric_options", "histogram_options", 2, Type::Message(&HISTOGRAM_OPTIONS)),
    ],
};

static MODEL_METRICS: MessageType =
    MessageType { name: "inference.ModelMetrics", fields: &[rep("metric_control", 1, Type::Message(&METRIC_CONTROL))] };

static CC_MODEL_FILENAMES_ENTRY: MessageType =
    MessageType { name: "inference.ModelConfig.CcModelFilenamesEntry", fields: &STRING_STRING_ENTRY_FIELDS };

static METRIC_TAGS_ENTRY: MessageType =
    MessageType { name: "inference.ModelConfig.MetricTagsEntry", fields: &STRING_STRING_ENTRY_FIELDS };

static PARAMETERS_ENTRY: MessageType = MessageType {
    name: "inference.ModelConfig.ParametersEntry",
    fields: &[one("key", 1, Str), one("value", 2, Type::Message(&MODEL_PARAMETER))],
};

/// `inference.ModelConfig`, the type of a whole `config.pbtxt`.
pub(crate) static MODEL_CONFIG: MessageType = MessageType {
    name: "inference.ModelConfig",
    fields: &[
        one("name", 1, Str),
        one("platform", 2, Str),
        one("backend", 17, Str),
        one("runtime", 25, Str),
        one("version_policy", 3, Type::Message(&VERSION_POLICY)),
        one("max_batch_size", 4, Int32),
        rep("input", 5, Type::Message(&MODEL_INPUT)),
        rep("output", 6, Type::Message(&MODEL_OUTPUT)),
        rep("batch_input", 20, Type::Message(&BATCH_INPUT)),
        rep("batch_output", 21, Type::Message(&BATCH_OUTPUT)),
        one("optimization", 12, Type::Message(&OPTIMIZATION)),
        of("scheduling_choice", "dynamic_batching", 11, Type::Message(&DYNAMIC_BATCHING)),
        of("scheduling_choice", "sequence_batching", 13, Type::Message(&SEQUENCE_BATCHING)),
        of("scheduling_choice", "ensemble_scheduling", 15, Type::Message(&ENSEMBLING)),
        rep("instance_group", 7, Type::Message(&INSTANCE_GROUP)),
        one("default_model_filename", 8, Str),
        map("cc_model_filenames", 9, &CC_MODEL_FILENAMES_ENTRY),
        map("metric_tags", 10, &METRIC_TAGS_ENTRY),
        map("parameters", 14, &PARAMETERS_ENTRY),
        rep("model_warmup", 16, Type::Message(&MODEL_WARMUP)),
        one("model_operations", 18, Type::Message(&MODEL_OPERATIONS)),
        one("model_transaction_policy", 19, Type::Message(&TRANSACTION_POLICY)),
        one("model_repository_agents", 23, Type::Message(&REPOSITORY_AGENTS)),
        one("response_cache", 24, Type::Message(&RESPONSE_CACHE)),
        one("model_metrics", 26, Type::Message(&MODEL_METRICS)),
    ],
};

// ---------------------------------------------------------------------------------------------------
// The check

/// Checks `config`, a parsed `config.pbtxt` (the file `path`, named in errors), against
/// `inference.ModelConfig`. Errors are [`Error::ConfigSyntax`] at the offending field's position.
pub(crate) fn check(config: &Message, path: &Path) -> Result<()> {
    check_message(&MODEL_CONFIG, config, path)
}

fn check_message(ty: &'static MessageType, msg: &Message, path: &Path) -> Result<()> {
    // Fields that count as set (protobuf's HasField), and the member set for each oneof.
    let mut set: Vec<&'static str> = Vec::new();
    let mut oneofs: Vec<(&'static str, &'static str)> = Vec::new();
    for field in &msg.fields {
        let err = |message: String| Error::ConfigSyntax {
            path: path.to_path_buf(),
            line: field.line,
            col: field.col,
            message,
        };
        let Some(def) = ty.field(&field.name) else {
            return Err(err(unknown_field(ty, &field.name)));
        };
        if !def.repeated {
            if field.in_list {
                return Err(err(format!(
                    "field \"{}\" of \"{}\" is not repeated: give one value, not a list `[ ... ]`",
                    def.name, ty.name
                )));
            }
            if set.contains(&def.name) {
                return Err(err(format!("Non-repeated field \"{}\" is specified multiple times.", def.name)));
            }
            if let Some(oneof) = def.oneof
                && let Some((_, other)) = oneofs.iter().find(|(o, _)| *o == oneof)
            {
                return Err(err(format!(
                    "Field \"{}\" is specified along with field \"{other}\", another member of oneof \"{oneof}\".",
                    def.name
                )));
            }
        }
        check_value(def, field).map_err(err)?;
        if let Type::Message(inner) = def.ty
            && let Value::Message(m) = &field.value
        {
            check_message(inner, m, path)?;
        }
        // A proto3 scalar that equals its default does not count as set; a message or a oneof member does.
        let counts = def.oneof.is_some() || matches!(def.ty, Type::Message(_)) || !is_default(def.ty, &field.value);
        if !def.repeated && counts {
            set.push(def.name);
            if let Some(oneof) = def.oneof {
                oneofs.push((oneof, def.name));
            }
        }
    }
    Ok(())
}

/// Whether a scalar value is its field type's default (0, false, "", the enum's value 0).
fn is_default(ty: Type, v: &Value) -> bool {
    match (ty, v) {
        (Type::Enum(e), Value::Ident(s)) => e.number_of(s) == Some(0),
        (_, Value::Int(n)) => *n == 0,
        (_, Value::Uint(n)) => *n == 0,
        (_, Value::Float(x)) => x.to_bits() == 0,
        (_, Value::Str(s)) => s.is_empty(),
        (_, Value::Bool(b)) => !*b,
        (_, Value::Ident(s)) => s == "f",
        (_, Value::Message(_)) => false,
    }
}

/// Checks one value against its field's type; the error message says what was expected and found.
fn check_value(def: &FieldDef, field: &Field) -> std::result::Result<(), String> {
    let found = || field.value.describe();
    let expected = |what: &str| format!("field \"{}\" ({}) expects {what}, found {}", def.name, def.ty.name(), found());
    let range = |lo: i128, hi: i128| -> std::result::Result<(), String> {
        let v: i128 = match &field.value {
            Value::Int(n) => i128::from(*n),
            Value::Uint(n) => i128::from(*n),
            _ => return Err(expected("an integer")),
        };
        if v < lo || v > hi {
            return Err(format!(
                "field \"{}\" ({}): integer {v} is out of range [{lo}, {hi}]",
                def.name,
                def.ty.name()
            ));
        }
        Ok(())
    };
    match def.ty {
        Type::Message(_) => match field.value {
            Value::Message(_) => Ok(()),
            _ => Err(format!(
                "field \"{}\" is a message ({}): expected `{{ ... }}`, found {}",
                def.name,
                def.ty.name(),
                found()
            )),
        },
        _ if matches!(field.value, Value::Message(_)) => Err(format!(
            "field \"{}\" ({}) is not a message: expected `{}: value`, found `{{ ... }}`",
            def.name,
            def.ty.name(),
            def.name
        )),
        Type::Int32 => range(i128::from(i32::MIN), i128::from(i32::MAX)),
        Type::Uint32 => range(0, i128::from(u32::MAX)),
        Type::Int64 => range(i128::from(i64::MIN), i128::from(i64::MAX)),
        Type::Uint64 => range(0, i128::from(u64::MAX)),
        Type::Float | Type::Double => match field.value {
            Value::Int(_) | Value::Uint(_) | Value::Float(_) => Ok(()),
            _ => Err(expected("a number")),
        },
        Type::Bool => match &field.value {
            Value::Bool(_) | Value::Int(0 | 1) => Ok(()),
            Value::Ident(s) if s == "t" || s == "f" => Ok(()),
            Value::Ident(s) => Err(format!(
                "Invalid value for boolean field \"{}\". Value: \"{s}\" (expected true or false).",
                def.name
            )),
            _ => Err(expected("true or false")),
        },
        Type::String => match field.value {
            Value::Str(_) => Ok(()),
            _ => Err(expected("a string in quotes")),
        },
        Type::Enum(e) => match &field.value {
            Value::Ident(s) => match e.number_of(s) {
                Some(_) => Ok(()),
                None => {
                    let names: Vec<&str> = e.values.iter().map(|(n, _)| *n).collect();
                    let hint = match nearest(s, &names) {
                        Some(n) => format!("; did you mean \"{n}\"?"),
                        None => format!("; expected one of {}", names.join(", ")),
                    };
                    Err(format!("Unknown enumeration value of \"{s}\" for field \"{}\" ({}){hint}", def.name, e.name))
                }
            },
            // Proto3 enums are open: any int32 number parses.
            Value::Int(n) if i32::try_from(*n).is_ok() => Ok(()),
            _ => Err(expected("an enum value name")),
        },
    }
}

/// protobuf's message for an unknown field, with the nearest known name or the list of known names.
fn unknown_field(ty: &MessageType, name: &str) -> String {
    let names: Vec<&str> = ty.fields.iter().map(|f| f.name).collect();
    let hint = match nearest(name, &names) {
        Some(n) => format!("; did you mean \"{n}\"?"),
        None if names.is_empty() => "; it has no fields".to_string(),
        None => format!("; its fields are {}", names.join(", ")),
    };
    format!("Message type \"{}\" has no field named \"{name}\"{hint}", ty.name)
}

/// The known name nearest to `name`: a case-insensitive match, else the smallest edit distance (with
/// transpositions) when it is at most 1 for short names, 2 up to 8 characters and 3 beyond.
pub(crate) fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(k);
    }
    let limit = match name.chars().count() {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    let at = |i: usize, j: usize| i * w + j;
    for i in 0..=a.len() {
        if let Some(c) = d.get_mut(at(i, 0)) {
            *c = i;
        }
    }
    for j in 0..=b.len() {
        if let Some(c) = d.get_mut(at(0, j)) {
            *c = j;
        }
    }
    let get = |d: &[usize], i: usize, j: usize| d.get(at(i, j)).copied().unwrap_or(usize::MAX / 2);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let (ca, cb) = (a.get(i - 1), b.get(j - 1));
            let cost = usize::from(ca != cb);
            let mut v = (get(&d, i - 1, j) + 1).min(get(&d, i, j - 1) + 1).min(get(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && ca == b.get(j - 2) && a.get(i - 2) == cb {
                v = v.min(get(&d, i - 2, j - 2) + 1);
            }
            if let Some(c) = d.get_mut(at(i, j)) {
                *c = v;
            }
        }
    }
    get(&d, a.len(), b.len())
}

// ---------------------------------------------------------------------------------------------------
// Reading a checked tree

/// A read-only view of a message that [`check`] accepted, with protobuf's reading rules: a singular field's
/// value is its last occurrence, an absent field reads as its default, an absent message as an empty one,
/// and a map's entries are deduplicated by key (the last entry wins).
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    msg: Option<&'a Message>,
}

impl<'a> View<'a> {
    /// A view of `msg`.
    pub(crate) fn of(msg: &'a Message) -> Self {
        View { msg: Some(msg) }
    }

    fn all(&self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.msg.into_iter().flat_map(move |m| m.fields.iter().filter(move |f| f.name == name))
    }

    /// Whether `name` occurs at all.
    pub(crate) fn has(&self, name: &'a str) -> bool {
        self.all(name).next().is_some()
    }

    /// The last occurrence of `name`.
    pub(crate) fn field(&self, name: &'a str) -> Option<&'a Field> {
        self.all(name).last()
    }

    /// How many times `name` occurs (the length of a repeated field).
    pub(crate) fn count(&self, name: &'a str) -> usize {
        self.all(name).count()
    }

    /// The singular message field `name` (an empty view when absent).
    pub(crate) fn msg(&self, name: &'a str) -> View<'a> {
        match self.field(name).map(|f| &f.value) {
            Some(Value::Message(m)) => View::of(m),
            _ => View { msg: None },
        }
    }

    /// The repeated message field `name`.
    pub(crate) fn msgs(&self, name: &'a str) -> Vec<View<'a>> {
        self.all(name)
            .filter_map(|f| match &f.value {
                Value::Message(m) => Some(View::of(m)),
                _ => None,
            })
            .collect()
    }

    /// The repeated message field `name`, with each element's field (for positions).
    pub(crate) fn msgs_at(&self, name: &'a str) -> Vec<(View<'a>, &'a Field)> {
        self.all(name)
            .filter_map(|f| match &f.value {
                Value::Message(m) => Some((View::of(m), f)),
                _ => None,
            })
            .collect()
    }

    /// A string field ("" when absent).
    pub(crate) fn str(&self, name: &'a str) -> &'a str {
        match self.field(name).map(|f| &f.value) {
            Some(Value::Str(s)) => s,
            _ => "",
        }
    }

    /// A repeated string field.
    pub(crate) fn strs(&self, name: &'a str) -> Vec<&'a str> {
        self.all(name)
            .filter_map(|f| match &f.value {
                Value::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    /// An integer field (0 when absent); a `uint64` above `i64::MAX` saturates.
    pub(crate) fn int(&self, name: &'a str) -> i64 {
        self.field(name).map_or(0, |f| int_of(&f.value))
    }

    /// An unsigned integer field (0 when absent).
    pub(crate) fn uint(&self, name: &'a str) -> u64 {
        match self.field(name).map(|f| &f.value) {
            Some(Value::Uint(n)) => *n,
            Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => 0,
        }
    }

    /// A repeated integer field.
    pub(crate) fn ints(&self, name: &'a str) -> Vec<i64> {
        self.all(name).map(|f| int_of(&f.value)).collect()
    }

    /// A float or double field (0 when absent).
    pub(crate) fn float(&self, name: &'a str) -> f64 {
        self.field(name).map_or(0.0, |f| float_of(&f.value))
    }

    /// A bool field (false when absent).
    pub(crate) fn bool(&self, name: &'a str) -> bool {
        self.field(name).is_some_and(|f| bool_of(&f.value))
    }

    /// An enum field's value name (the value numbered 0 when absent; the number itself, as text, when it
    /// names no value of `ty`).
    pub(crate) fn enum_name(&self, name: &'a str, ty: &EnumType) -> String {
        match self.field(name).map(|f| &f.value) {
            Some(Value::Ident(s)) => s.clone(),
            Some(Value::Int(n)) => ty.name_of(*n).map_or_else(|| n.to_string(), str::to_string),
            _ => ty.name_of(0).unwrap_or_default().to_string(),
        }
    }

    /// An enum field's number (0 when absent).
    pub(crate) fn enum_number(&self, name: &'a str, ty: &EnumType) -> i64 {
        match self.field(name).map(|f| &f.value) {
            Some(Value::Ident(s)) => ty.number_of(s).map_or(0, i64::from),
            Some(Value::Int(n)) => *n,
            _ => 0,
        }
    }

    /// A map field's entries as `(key, value)`, deduplicated by key (the last wins), in first-seen order.
    /// The key is its text (a string's content, a number's digits); the value is the entry's `value`.
    pub(crate) fn map(&self, name: &'a str) -> Vec<(String, View<'a>, &'a Field)> {
        let mut out: Vec<(String, View<'a>, &'a Field)> = Vec::new();
        for (entry, field) in self.msgs_at(name) {
            let key = match entry.field("key").map(|f| &f.value) {
                Some(Value::Str(s)) => s.clone(),
                Some(Value::Int(n)) => n.to_string(),
                Some(Value::Uint(n)) => n.to_string(),
                _ => String::new(),
            };
            match out.iter_mut().find(|(k, _, _)| *k == key) {
                Some(slot) => {
                    slot.1 = entry;
                    slot.2 = field;
                }
                None => out.push((key, entry, field)),
            }
        }
        out
    }

    /// A `map<string, string>` field as `(key, value)` pairs (see [`View::map`]).
    pub(crate) fn string_map(&self, name: &'a str) -> Vec<(String, String)> {
        self.map(name).into_iter().map(|(k, v, _)| (k, v.str("value").to_string())).collect()
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        Value::Uint(n) => i64::try_from(*n).unwrap_or(i64::MAX),
        _ => 0,
    }
}

fn float_of(v: &Value) -> f64 {
    match v {
        Value::Float(x) => *x,
        #[allow(clippy::cast_precision_loss)]
        Value::Int(n) => *n as f64,
        #[allow(clippy::cast_precision_loss)]
        Value::Uint(n) => *n as f64,
        _ => 0.0,
    }
}

fn bool_of(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Int(n) => *n != 0,
        Value::Ident(s) => s == "t",
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::repository::pbtxt;

    fn every_message() -> Vec<&'static MessageType> {
        fn walk(m: &'static MessageType, out: &mut Vec<&'static MessageType>) {
            if out.iter().any(|x| std::ptr::eq(*x, m)) {
                return;
            }
            out.push(m);
            for f in m.fields {
                if let Type::Message(inner) = f.ty {
                    walk(inner, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&MODEL_CONFIG, &mut out);
        out
    }

    #[test]
    fn tables_are_consistent() {
        let all = every_message();
        // model_config.proto: 46 messages and 11 maps (each a message type of its own), all under ModelConfig.
        assert_eq!(all.len(), 46 + 11, "{:?}", all.iter().map(|m| m.name).collect::<Vec<_>>());
        for m in &all {
            for (i, f) in m.fields.iter().enumerate() {
                assert!(
                    m.fields[..i].iter().all(|g| g.name != f.name && g.number != f.number),
                    "{} {}",
                    m.name,
                    f.name
                );
            }
            if m.name.ends_with("Entry") {
                assert_eq!(m.fields.len(), 2, "{}", m.name);
                assert_eq!((m.fields[0].name, m.fields[0].number), ("key", 1));
                assert_eq!((m.fields[1].name, m.fields[1].number), ("value", 2));
            }
        }
        assert_eq!(MODEL_CONFIG.fields.len(), 25);
        assert_eq!(DATA_TYPE.values.len(), 15);
        assert_eq!(DATA_TYPE.number_of("TYPE_BF16"), Some(14));
    }

    fn err(text: &str) -> (usize, usize, String) {
        let tree = pbtxt::parse(text, Path::new("m/config.pbtxt")).unwrap();
        match check(&tree, Path::new("m/config.pbtxt")) {
            Err(Error::ConfigSyntax { line, col, message, path }) => {
                assert_eq!(path, Path::new("m/config.pbtxt"));
                (line, col, message)
            }
            other => panic!("{text}: expected a schema error, got {other:?}"),
        }
    }

    fn ok(text: &str) {
        let tree = pbtxt::parse(text, Path::new("c")).unwrap();
        if let Err(e) = check(&tree, Path::new("c")) {
            panic!("{text}: {e}");
        }
    }

    #[test]
    fn unknown_and_misspelt_fields_name_the_nearest_known_one() {
        let (line, col, m) = err("platform: \"onnxruntime_onnx\"\nmax_batch_sise: 1");
        assert_eq!((line, col), (2, 1));
        assert_eq!(
            m,
            "Message type \"inference.ModelConfig\" has no field named \"max_batch_sise\"; did you mean \"max_batch_size\"?"
        );
        let (line, col, m) =
            err("input [ { name: \"x\"\n  data_type: TYPE_FP32 dims: [ 4 ] reshpe { shape: [ 2, 2 ] } } ]");
        assert_eq!((line, col), (2, 36));
        assert!(m.contains("\"inference.ModelInput\" has no field named \"reshpe\"; did you mean \"reshape\"?"), "{m}");
        // Deep inside a field the crate does not use.
        let (_, _, m) = err("dynamic_batching { default_queue_policy { timeout_acton: DELAY } }");
        assert!(
            m.contains(
                "\"inference.ModelQueuePolicy\" has no field named \"timeout_acton\"; did you mean \"timeout_action\"?"
            ),
            "{m}"
        );
        let (_, _, m) = err("optimization { cuda { graph_spec { input { key: \"x\" value { dims: 3 } } } } }");
        assert!(m.contains("\"inference.ModelOptimizationPolicy.Cuda.GraphSpec.Shape\" has no field named \"dims\"; did you mean \"dim\"?"), "{m}");
        // Nothing near: the known fields are listed.
        let (_, _, m) = err("version_policy { latest { count: 2 } }");
        assert!(m.ends_with("has no field named \"count\"; its fields are num_versions"), "{m}");
        let (_, _, m) = err("version_policy { all { x: 1 } }");
        assert!(m.ends_with("it has no fields"), "{m}");
        // Case: a case-insensitive match is suggested.
        let (_, _, m) = err("Input { }");
        assert!(m.contains("did you mean \"input\""), "{m}");
    }

    #[test]
    fn wrong_kinds_ranges_and_enums() {
        let cases = [
            ("max_batch_size: \"8\"", "field \"max_batch_size\" (int32) expects an integer, found string \"8\""),
            ("max_batch_size: 1.0", "expects an integer, found float 1.0"),
            ("max_batch_size: 2147483648", "integer 2147483648 is out of range [-2147483648, 2147483647]"),
            ("max_batch_size { }", "field \"max_batch_size\" (int32) is not a message"),
            ("name: 3", "field \"name\" (string) expects a string in quotes, found integer 3"),
            ("name: foo", "expects a string in quotes, found identifier foo"),
            ("input: 3", "field \"input\" is a message (inference.ModelInput)"),
            (
                "input { data_type: TYPE_FP23 }",
                "Unknown enumeration value of \"TYPE_FP23\" for field \"data_type\" (inference.DataType); did you mean \"TYPE_FP32\"?",
            ),
            ("input { data_type: \"TYPE_FP32\" }", "expects an enum value name, found string \"TYPE_FP32\""),
            ("input { format: NCHW }", "Unknown enumeration value of \"NCHW\""),
            ("input { optional: yes }", "Invalid value for boolean field \"optional\". Value: \"yes\""),
            ("input { optional: 2 }", "expects true or false, found integer 2"),
            ("input { dims: 9223372036854775808 }", "out of range"),
            ("version_policy { latest { num_versions: -1 } }", "integer -1 is out of range [0, 4294967295]"),
            ("dynamic_batching { max_queue_delay_microseconds: -5 }", "out of range [0, 18446744073709551615]"),
            (
                "instance_group { kind: KIND_TPU }",
                "Unknown enumeration value of \"KIND_TPU\" for field \"kind\" (inference.ModelInstanceGroup.Kind); did you mean \"KIND_GPU\"?",
            ),
            ("sequence_batching { control_input { control { fp32_false_true: [ \"a\" ] } } }", "expects a number"),
            ("parameters { key: \"a\" value: \"b\" }", "field \"value\" is a message (inference.ModelParameter)"),
            ("max_batch_size: [ 4 ]", "is not repeated: give one value, not a list"),
            (
                "max_batch_size: 4 max_batch_size: 8",
                "Non-repeated field \"max_batch_size\" is specified multiple times.",
            ),
            ("reshape_me: 1", "has no field named \"reshape_me\""),
            (
                "version_policy { all { } latest { } }",
                "Field \"latest\" is specified along with field \"all\", another member of oneof \"policy_choice\".",
            ),
            (
                "platform: \"ensemble\" dynamic_batching { } ensemble_scheduling { }",
                "Field \"ensemble_scheduling\" is specified along with field \"dynamic_batching\", another member of oneof \"scheduling_choice\".",
            ),
            ("input { reshape { } reshape { } }", "Non-repeated field \"reshape\" is specified multiple times."),
        ];
        let mut failures = Vec::new();
        for (text, want) in cases {
            let (_, _, m) = err(text);
            if !m.contains(want) {
                failures.push(format!("{text}\n  got  {m}\n  want {want}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn what_protobuf_accepts() {
        // A proto3 scalar at its default does not count as set, so it may be given again (the last wins).
        ok("max_batch_size: 0 max_batch_size: 8");
        ok("name: \"\" name: \"m\"");
        ok("input { data_type: TYPE_INVALID data_type: TYPE_FP32 optional: false optional: true }");
        // Enums by name or number (proto3 enums are open), bools in every spelling.
        ok("input { data_type: 11 format: 2 optional: t is_shape_tensor: False allow_ragged_batch: 1 }");
        ok("input { data_type: 99 }");
        // Floats take integers; repeated fields take lists and repeats; maps are repeated entries.
        ok(
            "sequence_batching { direct { minimum_slot_utilization: 1 } control_input { control { fp32_false_true: [0, 1.5] bool_false_true: [ true, f ] } } }",
        );
        ok("input { dims: [1, 2] dims: 3 reshape: { shape: [ ] } }");
        ok("parameters { key: \"a\" value { string_value: \"b\" } } parameters [ { key: \"c\" value: { } } ]");
        ok("dynamic_batching { priority_queue_policy { key: 1 value: { timeout_action: DELAY } } }");
        ok("ensemble_scheduling { step [ { model_name: \"a\" input_map { key: \"x\" value: \"y\" } } ] }");
        ok("model_warmup [ { inputs { key: \"x\" value: { data_type: TYPE_FP32 dims: [1] zero_data: true } } } ]");
        ok("");
    }

    #[test]
    fn nearest_names() {
        let known = ["max_batch_size", "input", "output", "name", "backend"];
        assert_eq!(nearest("max_batch_sise", &known), Some("max_batch_size"));
        assert_eq!(nearest("maxbatchsize", &known), Some("max_batch_size"));
        assert_eq!(nearest("inptu", &known), Some("input"));
        assert_eq!(nearest("nmae", &known), Some("name"));
        assert_eq!(nearest("OUTPUT", &known), Some("output"));
        assert_eq!(nearest("xyz", &known), None);
        assert_eq!(nearest("platform", &known), None);
        assert_eq!(edit_distance("reshpe", "reshape"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn view_reads_like_protobuf() {
        let tree = pbtxt::parse(
            "max_batch_size: 0 max_batch_size: 8 input { name: \"a\" } input { name: \"b\" optional: t } \
             parameters { key: \"k\" value { string_value: \"1\" } } parameters { key: \"k\" value { string_value: \"2\" } } \
             instance_group { kind: 1 }",
            Path::new("c"),
        )
        .unwrap();
        let v = View::of(&tree);
        assert_eq!(v.int("max_batch_size"), 8);
        assert_eq!(v.msgs("input").len(), 2);
        assert!(v.msgs("input")[1].bool("optional"));
        assert_eq!(v.msg("version_policy").msg("latest").uint("num_versions"), 0);
        let map = v.map("parameters");
        assert_eq!(map.len(), 1);
        assert_eq!(map[0].1.msg("value").str("string_value"), "2");
        assert_eq!(v.msgs("instance_group")[0].enum_name("kind", &INSTANCE_GROUP_KIND), "KIND_GPU");
        assert_eq!(v.msg("absent").enum_name("kind", &INSTANCE_GROUP_KIND), "KIND_AUTO");
    }

    /// Every `config.pbtxt` of triton-inference-server/server (a mirror, when present: `TRITON_SERVER_GIT`,
    /// default `/work/.mirror/triton-inference-server+server/repo`) parses and passes the schema, except
    /// the deliberately broken ones, which must be among those known to be rejected by Triton's parser.
    /// `cargo test --lib triton_server_configs -- --ignored --nocapture` prints the counts.
    #[test]
    #[ignore = "reads a mirror of triton-inference-server/server"]
    fn triton_server_configs() {
        let git = std::env::var("TRITON_SERVER_GIT")
            .unwrap_or_else(|_| "/work/.mirror/triton-inference-server+server/repo".to_string());
        if !Path::new(&git).exists() {
            eprintln!("skipped: no mirror at {git}");
            return;
        }
        let run = |args: &[&str]| {
            let out = std::process::Command::new("git").arg("--git-dir").arg(&git).args(args).output().unwrap();
            assert!(out.status.success(), "git {args:?}");
            out.stdout
        };
        let list = String::from_utf8(run(&["ls-tree", "-r", "HEAD", "--name-only"])).unwrap();
        let files: Vec<&str> = list.lines().filter(|p| p.ends_with("config.pbtxt")).collect();
        let (mut accepted, mut rejected) = (0, Vec::new());
        for f in &files {
            let bytes = run(&["show", &format!("HEAD:{f}")]);
            let path = Path::new(f);
            match pbtxt::parse_bytes(&bytes, path).and_then(|t| check(&t, path)) {
                Ok(()) => accepted += 1,
                Err(e) => rejected.push(e.to_string()),
            }
        }
        eprintln!("schema: {} config.pbtxt files: {accepted} accepted, {} rejected", files.len(), rejected.len());
        for r in &rejected {
            eprintln!("  rejected: {r}");
        }
        assert!(files.len() > 400, "{}", files.len());
        assert!(rejected.is_empty(), "Triton accepts these: {rejected:#?}");

        // Then Triton's config checks (strict), each config in its folder, the folder's first version
        // read from the mirror's tree. Those Triton rejects on purpose are in qa/L0_model_config.
        use crate::repository::autocomplete::Folder;
        use crate::repository::config::{finish, prepare};
        let (mut ok, mut failed) = (0, Vec::new());
        for f in &files {
            let path = Path::new(f);
            let Some(dir) = path.parent() else { continue };
            let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let prefix = format!("{}/", dir.display());
            let mut versions: Vec<&str> = list
                .lines()
                .filter_map(|p| p.strip_prefix(&prefix))
                .filter_map(|rest| rest.split_once('/').map(|(v, _)| v))
                .collect();
            versions.sort_unstable();
            versions.dedup();
            let first_version = versions.first().map(|v| {
                let vp = format!("{prefix}{v}/");
                let mut entries: Vec<(String, bool)> = list
                    .lines()
                    .filter_map(|p| p.strip_prefix(&vp))
                    .map(|rest| match rest.split_once('/') {
                        Some((d, _)) => (d.to_string(), true),
                        None => (rest.to_string(), false),
                    })
                    .collect();
                entries.dedup();
                (v.to_string(), entries)
            });
            let folder = Folder { first_version };
            let bytes = run(&["show", &format!("HEAD:{f}")]);
            let mut tree = pbtxt::parse_bytes(&bytes, path).unwrap();
            match prepare(&mut tree, path, &name, &folder).and_then(|()| finish(&tree, path, &name, None)) {
                Ok(_) => ok += 1,
                Err(e) => failed.push((f.to_string(), e.to_string())),
            }
        }
        let (on_purpose, other): (Vec<_>, Vec<_>) =
            failed.iter().partition(|(f, _)| f.starts_with("qa/L0_model_config/"));
        eprintln!(
            "Triton's config checks (strict): {ok} pass, {} fail ({} of them in qa/L0_model_config, invalid on purpose)",
            failed.len(),
            on_purpose.len()
        );
        for (f, e) in &other {
            eprintln!("  other: {f}: {e}");
        }
    }
}
