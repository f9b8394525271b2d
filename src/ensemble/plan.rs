//! An ensemble's `ensemble_scheduling` as an execution plan, and the generic executor that runs it.
//!
//! The plan is a DAG over tensor names: each step consumes ensemble tensors (through its `input_map`) and
//! produces ensemble tensors (through its `output_map`). A step that runs another ensemble (Triton allows
//! ensembles of ensembles) is inlined when the plan is built, so the executor and the CLO role recognition
//! see only models. Building the plan rejects, at load time, steps that name unknown models, inputs or
//! outputs a model does not have, model inputs left unmapped (unless optional), tensors that no one
//! produces or that two producers write, and cycles; Triton's own checks of the ensemble (with Triton's
//! messages) run before, when the repository opens. Nothing here knows the CLO models' names.

use std::collections::{BTreeMap, HashMap, HashSet};

use ort::session::{Session, SessionInputValue};
use ort::value::DynValue;

use crate::error::{EnsembleErrorKind, Error, Result};
use crate::repository::{DataType, ModelEntry, Repository, TensorConfig};

/// One step of the plan: a model run on ensemble tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedStep {
    /// The model's name.
    pub model: String,
    /// The version that runs (the ensemble's `model_version`, or the served version for `-1`).
    pub version: i64,
    /// `(model input name, ensemble tensor)` pairs.
    pub inputs: Vec<(String, String)>,
    /// `(model output name, ensemble tensor)` pairs.
    pub outputs: Vec<(String, String)>,
    /// Ensemble tensors no later step reads and that are not ensemble outputs: dropped after this step.
    pub release_after: Vec<String>,
}

/// An ensemble's steps in an order that respects their data dependencies.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsemblePlan {
    /// The ensemble's name.
    pub name: String,
    /// The ensemble's declared inputs.
    pub inputs: Vec<TensorConfig>,
    /// The ensemble's declared outputs.
    pub outputs: Vec<TensorConfig>,
    /// The ensemble's `max_batch_size`.
    pub max_batch_size: i64,
    /// Steps in execution order.
    pub steps: Vec<PlannedStep>,
    /// Every ensemble tensor's type and shape as the producing model's config declares it.
    pub tensors: BTreeMap<String, (DataType, Vec<i64>)>,
}

/// A step of a (possibly nested) ensemble, its tensors renamed into the outermost ensemble's namespace.
struct FlatStep<'r> {
    entry: &'r ModelEntry,
    version: i64,
    inputs: Vec<(String, String)>,
    outputs: Vec<(String, String)>,
}

/// How deep ensembles may nest (a cycle is rejected when the repository opens; this bounds the recursion).
const MAX_NESTING: usize = 16;

/// Appends the steps of `entry` (an ensemble) to `out`, each inner ensemble inlined: its inputs and outputs
/// become the outer tensors its step maps them to, and its other tensors get names no outer tensor has
/// (`<inner ensemble>@<step path>/<tensor>`).
fn flatten<'r>(
    repo: &'r Repository,
    entry: &'r ModelEntry,
    rename: &dyn Fn(&str) -> String,
    path: &str,
    depth: usize,
    out: &mut Vec<FlatStep<'r>>,
) -> std::result::Result<(), String> {
    if depth > MAX_NESTING {
        return Err(format!("ensembles nest deeper than {MAX_NESTING} levels"));
    }
    let Some(sched) = entry.config.ensemble.as_ref() else {
        return Err(format!("model `{}` is not an ensemble (no `ensemble_scheduling`)", entry.config.name));
    };
    if sched.steps.is_empty() {
        return Err("`ensemble_scheduling` has no steps".to_string());
    }
    for (i, step) in sched.steps.iter().enumerate() {
        let model = repo.model(&step.model_name).ok_or_else(|| {
            format!(
                "step {i} names model `{}`, which is not loaded (loaded: {})",
                step.model_name,
                repo.models().map(|m| m.config.name.as_str()).collect::<Vec<_>>().join(", ")
            )
        })?;
        let served = model.served_versions();
        let version = if step.model_version < 0 {
            *served.iter().max().ok_or_else(|| format!("step {i}: model `{}` serves no version", step.model_name))?
        } else if served.contains(&step.model_version) {
            step.model_version
        } else {
            return Err(format!(
                "step {i}: model `{}` version {} is not served (served: {served:?})",
                step.model_name, step.model_version
            ));
        };
        let inputs: Vec<(String, String)> = step.input_map.iter().map(|(k, v)| (k.clone(), rename(v))).collect();
        let outputs: Vec<(String, String)> = step.output_map.iter().map(|(k, v)| (k.clone(), rename(v))).collect();
        if model.is_ensemble() {
            let inner_path = format!("{path}{}@{i}/", model.config.name);
            let inner_rename = |t: &str| -> String {
                if let Some((_, outer)) = inputs.iter().find(|(k, _)| k == t) {
                    return outer.clone();
                }
                if let Some((_, outer)) = outputs.iter().find(|(k, _)| k == t) {
                    return outer.clone();
                }
                format!("{inner_path}{t}")
            };
            flatten(repo, model, &inner_rename, &inner_path, depth + 1, out)?;
        } else {
            out.push(FlatStep { entry: model, version, inputs, outputs });
        }
    }
    Ok(())
}

impl EnsemblePlan {
    /// Builds and checks the plan of `ensemble`, whose step models must be loaded in `repo`. A step that
    /// runs another ensemble is inlined (recursively), so the plan holds only models; the inner ensemble's
    /// own tensors get names that no outer tensor has.
    pub fn build(repo: &Repository, ensemble: &ModelEntry) -> Result<EnsemblePlan> {
        let name = ensemble.config.name.clone();
        let err =
            |message: String| Error::Ensemble { model: name.clone(), kind: EnsembleErrorKind::InvalidPlan, message };
        let mut flat = Vec::new();
        flatten(repo, ensemble, &|t: &str| t.to_string(), "", 0, &mut flat).map_err(err)?;

        // Who produces each tensor: None = the ensemble's input, Some(i) = step i.
        let mut producer: HashMap<String, Option<usize>> = HashMap::new();
        let mut tensors = BTreeMap::new();
        for t in &ensemble.config.inputs {
            if producer.insert(t.name.clone(), None).is_some() {
                return Err(err(format!("ensemble input `{}` is declared twice", t.name)));
            }
            tensors.insert(t.name.clone(), (t.data_type, t.shape(ensemble.config.max_batch_size)));
        }
        let mut steps = Vec::with_capacity(flat.len());
        for (i, step) in flat.iter().enumerate() {
            let cfg = &step.entry.config;
            for (key, _) in &step.inputs {
                if !cfg.inputs.iter().any(|t| &t.name == key) {
                    return Err(err(format!("step {i}: model `{}` has no input `{key}` (input_map)", cfg.name)));
                }
            }
            for t in &cfg.inputs {
                let n = step.inputs.iter().filter(|(k, _)| k == &t.name).count();
                if n != 1 && !(n == 0 && t.optional) {
                    return Err(err(format!(
                        "step {i}: input `{}` of model `{}` is mapped {n} times in input_map (expected once)",
                        t.name, cfg.name
                    )));
                }
            }
            for (key, value) in &step.outputs {
                let Some(t) = cfg.outputs.iter().find(|t| &t.name == key) else {
                    return Err(err(format!("step {i}: model `{}` has no output `{key}` (output_map)", cfg.name)));
                };
                if let Some(prev) = producer.insert(value.clone(), Some(i)) {
                    let by = match prev {
                        None => "the ensemble's input".to_string(),
                        Some(p) => {
                            format!("step {p} (`{}`)", flat.get(p).map(|s| s.entry.config.name.as_str()).unwrap_or("?"))
                        }
                    };
                    return Err(err(format!(
                        "tensor `{value}` is produced twice: by {by} and by step {i} (`{}`)",
                        cfg.name
                    )));
                }
                tensors.insert(value.clone(), (t.data_type, t.shape(cfg.max_batch_size)));
            }
            steps.push(PlannedStep {
                model: cfg.name.clone(),
                version: step.version,
                inputs: step.inputs.clone(),
                outputs: step.outputs.clone(),
                release_after: Vec::new(),
            });
        }

        // Every consumed tensor has a producer whose declared type matches the consumer's.
        let mut deps: Vec<HashSet<usize>> = vec![HashSet::new(); steps.len()];
        for (i, step) in steps.iter().enumerate() {
            let cfg = repo.model(&step.model).map(|m| &m.config);
            for (key, value) in &step.inputs {
                match producer.get(value) {
                    None => {
                        return Err(err(format!(
                            "step {i} (`{}`) reads tensor `{value}`, which neither the ensemble's inputs nor any step produces",
                            step.model
                        )));
                    }
                    Some(Some(p)) => {
                        if let Some(d) = deps.get_mut(i) {
                            d.insert(*p);
                        }
                    }
                    Some(None) => {}
                }
                let want = cfg.and_then(|c| c.inputs.iter().find(|t| &t.name == key)).map(|t| t.data_type);
                if let (Some(want), Some((have, _))) = (want, tensors.get(value))
                    && want != *have
                {
                    return Err(err(format!(
                        "step {i} (`{}`) input `{key}` is {} but tensor `{value}` is {}",
                        step.model,
                        want.as_triton(),
                        have.as_triton()
                    )));
                }
            }
        }
        for t in &ensemble.config.outputs {
            match producer.get(&t.name) {
                None => return Err(err(format!("ensemble output `{}` is produced by no step", t.name))),
                Some(_) => {
                    if let Some((have, _)) = tensors.get(&t.name)
                        && *have != t.data_type
                    {
                        return Err(err(format!(
                            "ensemble output `{}` is declared {} but produced as {}",
                            t.name,
                            t.data_type.as_triton(),
                            have.as_triton()
                        )));
                    }
                }
            }
        }

        // Topological order (Kahn), stable with respect to the config's order.
        let mut order = Vec::with_capacity(steps.len());
        let mut done = vec![false; steps.len()];
        while order.len() < steps.len() {
            let ready = |(i, dep): (usize, &HashSet<usize>)| {
                done.get(i) == Some(&false) && dep.iter().all(|d| done.get(*d) == Some(&true))
            };
            match deps.iter().enumerate().find(|&x| ready(x)).map(|(i, _)| i) {
                Some(i) => {
                    if let Some(d) = done.get_mut(i) {
                        *d = true;
                    }
                    order.push(i);
                }
                None => {
                    let stuck: Vec<String> = steps
                        .iter()
                        .zip(&done)
                        .enumerate()
                        .filter(|(_, (_, done))| !**done)
                        .map(|(i, (s, _))| format!("step {i} (`{}`)", s.model))
                        .collect();
                    return Err(err(format!("the steps form a cycle: {}", stuck.join(", "))));
                }
            }
        }
        let mut ordered: Vec<PlannedStep> = order.into_iter().filter_map(|i| steps.get(i).cloned()).collect();

        // Liveness: release each intermediate tensor after its last reader (a tensor nobody reads, such as an
        // inner ensemble's output the outer step does not map, right after its producer).
        let outputs: HashSet<&str> = ensemble.config.outputs.iter().map(|t| t.name.as_str()).collect();
        let mut last_reader: HashMap<String, usize> = HashMap::new();
        for (i, s) in ordered.iter().enumerate() {
            for (_, v) in &s.outputs {
                last_reader.entry(v.clone()).or_insert(i);
            }
        }
        for (i, s) in ordered.iter().enumerate() {
            for (_, v) in &s.inputs {
                last_reader.insert(v.clone(), i);
            }
        }
        for (tensor, i) in last_reader {
            if !outputs.contains(tensor.as_str())
                && let Some(s) = ordered.get_mut(i)
            {
                s.release_after.push(tensor);
            }
        }
        for s in &mut ordered {
            s.release_after.sort();
        }

        Ok(EnsemblePlan {
            name: name.clone(),
            inputs: ensemble.config.inputs.clone(),
            outputs: ensemble.config.outputs.clone(),
            max_batch_size: ensemble.config.max_batch_size,
            steps: ordered,
            tensors,
        })
    }

    /// Every model the plan runs, once each, in execution order.
    pub fn models(&self) -> Vec<(&str, i64)> {
        let mut seen = HashSet::new();
        self.steps
            .iter()
            .filter(|s| seen.insert((&s.model, s.version)))
            .map(|s| (s.model.as_str(), s.version))
            .collect()
    }

    /// The steps that read `tensor`.
    pub fn readers(&self, tensor: &str) -> Vec<&PlannedStep> {
        self.steps.iter().filter(|s| s.inputs.iter().any(|(_, v)| v == tensor)).collect()
    }

    /// The step that writes `tensor` (`None` for ensemble inputs and unknown tensors).
    pub fn writer(&self, tensor: &str) -> Option<&PlannedStep> {
        self.steps.iter().find(|s| s.outputs.iter().any(|(_, v)| v == tensor))
    }
}

/// Runs `plan` on `inputs` (ensemble tensor name → value) with one session per model (`sessions`, keyed by
/// model name), and returns the ensemble's outputs by name. Each step's outputs are checked against the
/// shapes the models' configs declare.
pub(crate) fn execute(
    plan: &EnsemblePlan,
    sessions: &mut HashMap<String, Session>,
    mut values: HashMap<String, DynValue>,
) -> Result<HashMap<String, DynValue>> {
    for step in &plan.steps {
        let session = sessions.get_mut(&step.model).ok_or_else(|| Error::Ensemble {
            model: plan.name.clone(),
            kind: EnsembleErrorKind::Internal,
            message: format!("no session for model `{}`", step.model),
        })?;
        let mut inputs: Vec<(String, SessionInputValue<'_>)> = Vec::with_capacity(step.inputs.len());
        for (key, value) in &step.inputs {
            let v = values.get(value).ok_or_else(|| Error::Tensor {
                model: step.model.clone(),
                tensor: key.clone(),
                expected: format!("ensemble tensor `{value}`"),
                found: "nothing (not given and not produced)".to_string(),
            })?;
            inputs.push((key.clone(), v.into()));
        }
        let mut out = session.run(inputs).map_err(|e| Error::ort(&step.model, e))?;
        let mut produced = Vec::with_capacity(step.outputs.len());
        for (key, value) in &step.outputs {
            let v = out.remove(key).ok_or_else(|| Error::Tensor {
                model: step.model.clone(),
                tensor: key.clone(),
                expected: "an output of this name".to_string(),
                found: "the session returned none".to_string(),
            })?;
            check_declared(plan, &step.model, key, value, &v)?;
            produced.push((value.clone(), v));
        }
        drop(out);
        for t in &step.release_after {
            values.remove(t);
        }
        // A tensor no later step reads and no one asked for is dropped at once.
        values.extend(produced.into_iter().filter(|(n, _)| !step.release_after.contains(n)));
    }
    let mut outputs = HashMap::with_capacity(plan.outputs.len());
    for t in &plan.outputs {
        if let Some(v) = values.remove(&t.name) {
            outputs.insert(t.name.clone(), v);
        }
    }
    Ok(outputs)
}

/// Checks a produced value against the shape its producer's config declares (-1 matches anything).
fn check_declared(plan: &EnsemblePlan, model: &str, key: &str, tensor: &str, v: &DynValue) -> Result<()> {
    let Some((_, declared)) = plan.tensors.get(tensor) else { return Ok(()) };
    let Some(shape) = v.dtype().tensor_shape() else { return Ok(()) };
    let ok = shape.len() == declared.len() && shape.iter().zip(declared).all(|(&a, &b)| b < 0 || a == b);
    if ok {
        Ok(())
    } else {
        Err(Error::Tensor {
            model: model.to_string(),
            tensor: key.to_string(),
            expected: format!("shape {declared:?} (config)"),
            found: format!("shape {:?} from the model", &shape[..]),
        })
    }
}
