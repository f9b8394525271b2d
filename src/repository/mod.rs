//! The Triton model repository: `config.pbtxt` parsing, versions, and validation against the ONNX files.
//!
//! A repository is Triton's layout, used unchanged:
//!
//! ```text
//! <repo>/<model>/config.pbtxt
//! <repo>/<model>/<version>/model.onnx      (or the config's default_model_filename)
//! <repo>/<ensemble>/config.pbtxt           (platform: "ensemble")
//! <repo>/<ensemble>/1/                     (empty, but required)
//! ```
//!
//! [`Repository::open`] loads every model folder (each subfolder holding a `config.pbtxt`; other
//! folders and files are skipped with a `tracing::debug!` event). [`Repository::open_with`] with
//! [`LoadOptions::load_models`] set behaves like Triton's `--model-control-mode=explicit
//! --load-model=...`: only the named models are loaded, plus, recursively, every model an ensemble among
//! them runs; a broken config of a model that is not loaded does not matter.
//!
//! Each config is read as Triton reads it (see [`config`]): held to Triton's whole `ModelConfig` schema
//! (an unknown or misspelt field anywhere is an [`Error::ConfigSyntax`] naming file, line and column and the
//! nearest known name), its backend fields completed from the model folder, then checked with Triton's
//! load-time rules and messages ([`Error::Config`]). Once its steps are loaded, each ensemble is checked
//! across models as Triton does (missing step models, circular dependencies between ensembles, required
//! versions, each step's `max_batch_size`, consistent tensor types and shapes): [`Error::Ensemble`].
//!
//! By default every config is strict (Triton's `--strict-model-config=true`, the guide's deployment):
//! nothing is auto-completed from the model file. With [`LoadOptions::strict_model_config`]`(false)` a
//! model folder without `config.pbtxt`, or a config without inputs or outputs, is completed from its ONNX
//! file as Triton's ONNX Runtime backend does ([`autocomplete`]), which needs the file's signature: open the
//! repository with [`Repository::open_inspecting`] (the [`Pipeline`](crate::Pipeline) builder does).
//! [`validate::validate_model`] checks a config against what the ONNX file declares. [`Repository::check`]
//! runs every check on every model and reports each model's outcome instead of stopping at the first error
//! (`examples/check.rs`).
//!
//! Version folders are Triton's: subfolders whose names read as an integer (`std::stoll`), without
//! leading zeros, other than `warmup`, `initial_state` and `configs`. A `specific` version policy's missing
//! version is a warning, as in Triton; no served version at all is an error.
//!
//! Safety of paths: model names and `default_model_filename` must be plain names (no `/`, `\`, `..`,
//! not absolute), and every model folder, config, version folder and model file must resolve (after
//! following links) inside the repository's root.
//!
//! Only ONNX models (`platform: "onnxruntime_onnx"` or `backend: "onnxruntime"`) and ensembles (nested
//! ones included) can be loaded; any other platform or backend is an [`Error::Config`] when that model is
//! loaded ([`Repository::check`] checks their configs all the same).

pub mod autocomplete;
pub(crate) mod check;
pub mod config;
pub(crate) mod pbtxt;
pub(crate) mod schema;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

pub use autocomplete::DEFAULT_MAX_BATCH_SIZE;
pub use config::{DataType, EnsembleScheduling, EnsembleStep, ModelConfig, TensorConfig, VersionPolicy};
pub use validate::{ModelSignature, TensorSignature, validate_model};

use self::config::config_error;
use self::pbtxt::Message;
use self::schema::View;
use crate::error::{ConfigErrorKind, EnsembleErrorKind, Error, RepositoryErrorKind, Result};

/// The name of a model folder's configuration file.
pub const CONFIG_FILE: &str = "config.pbtxt";

/// The model file's name when the config sets no `default_model_filename`.
pub const DEFAULT_MODEL_FILENAME: &str = "model.onnx";

/// Reads a model file's signature (its inputs and outputs): what auto-completion and the strict checks
/// against the ONNX file need. The [`Pipeline`](crate::Pipeline) builder passes one that opens an ONNX
/// Runtime session ([`Runtime::signature`](crate::runtime::Runtime::signature)).
pub type Inspector<'a> = &'a dyn Fn(&str, &Path) -> Result<ModelSignature>;

/// Which models [`Repository::open_with`] loads, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// `None` (the default): every model folder. `Some(names)`: Triton's explicit mode, the named models
    /// plus every model an ensemble among them runs, recursively. An unknown name is an error.
    pub load_models: Option<Vec<String>>,
    /// Triton's `--strict-model-config` (default `true`, the guide's deployment): with `false`, missing
    /// configs and configs without inputs or outputs are completed from the ONNX files (see
    /// [`autocomplete`]), and every model folder is a model, with or without `config.pbtxt`.
    pub strict_model_config: bool,
    /// The GPU ids Triton would see, for the instance-group checks (`KIND_GPU` groups and their `gpus`).
    /// `None` (the default): unknown, so only the checks that hold on every machine run (negative ids,
    /// `KIND_CPU` or `KIND_MODEL` groups that list GPUs).
    pub available_gpus: Option<Vec<i32>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { load_models: None, strict_model_config: true, available_gpus: None }
    }
}

impl LoadOptions {
    /// Loads every model (the default).
    pub fn all() -> Self {
        LoadOptions::default()
    }

    /// Adds `name` to the explicit load list (like Triton's `--load-model=name`).
    pub fn load_model(mut self, name: impl Into<String>) -> Self {
        self.load_models.get_or_insert_with(Vec::new).push(name.into());
        self
    }

    /// Triton's `--strict-model-config` (default `true`).
    pub fn strict_model_config(mut self, strict: bool) -> Self {
        self.strict_model_config = strict;
        self
    }

    /// The GPU ids of the machine Triton would run on (see [`LoadOptions::available_gpus`]).
    pub fn available_gpus(mut self, ids: impl IntoIterator<Item = i32>) -> Self {
        self.available_gpus = Some(ids.into_iter().collect());
        self
    }
}

/// One loaded model: its config and where its files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The parsed, checked (and, without strict model config, completed) configuration.
    pub config: ModelConfig,
    /// The model's folder, `<repo>/<name>` (the repository root canonicalized).
    pub dir: PathBuf,
    /// `<dir>/config.pbtxt` (which may be absent when the config was auto-completed).
    pub config_path: PathBuf,
    /// Every version folder, ascending (see the module docs for which folders are versions).
    pub versions: Vec<i64>,
}

impl ModelEntry {
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The versions the version policy serves, ascending: the `num_versions` highest for `latest`,
    /// all for `all`, the listed ones that exist for `specific`.
    pub fn served_versions(&self) -> Vec<i64> {
        served(&self.config.version_policy, &self.versions)
    }

    /// The highest served version (what an ensemble step with `model_version: -1` runs).
    pub fn latest_version(&self) -> Option<i64> {
        self.served_versions().last().copied()
    }

    /// `<dir>/<version>/<default_model_filename or "model.onnx">`. Meaningless for an ensemble.
    pub fn model_file(&self, version: i64) -> PathBuf {
        let file = self.config.default_model_filename.as_deref().unwrap_or(DEFAULT_MODEL_FILENAME);
        self.dir.join(version.to_string()).join(file)
    }

    /// `platform: "ensemble"`.
    pub fn is_ensemble(&self) -> bool {
        self.config.is_ensemble()
    }
}

fn served(policy: &VersionPolicy, versions: &[i64]) -> Vec<i64> {
    match policy {
        VersionPolicy::Latest { num_versions } => {
            let n = usize::try_from(*num_versions).unwrap_or(usize::MAX);
            versions.iter().rev().take(n).rev().copied().collect()
        }
        VersionPolicy::All => versions.to_vec(),
        VersionPolicy::Specific(wanted) => versions.iter().filter(|v| wanted.contains(v)).copied().collect(),
    }
}

/// The outcome of checking one model with [`Repository::check`].
#[derive(Debug)]
pub struct ModelCheck {
    /// The model folder's name.
    pub name: String,
    /// The versions its policy serves (empty when its config could not be read).
    pub versions: Vec<i64>,
    /// Its platform, else its backend (`"onnxruntime_onnx"`, `"ensemble"`, `"python"`); empty when unknown.
    pub platform: String,
    /// Whether the model files were checked too (ONNX models, with an [`Inspector`]); other backends'
    /// configs are checked, their files are not.
    pub files_checked: bool,
    /// Triton's warnings (an auto-filled `max_batch_size`, a missing `specific` version).
    pub warnings: Vec<String>,
    /// The config as loaded (completed, without strict model config), when it could be read.
    pub config: Option<ModelConfig>,
    /// `None` when the model loads as Triton would load it, else why not.
    pub error: Option<Error>,
}

/// A loaded model repository.
#[derive(Debug, Clone)]
pub struct Repository {
    path: PathBuf,
    models: BTreeMap<String, ModelEntry>,
}

impl Repository {
    /// Opens the repository at `path` and loads every model folder in it.
    pub fn open(path: impl AsRef<Path>) -> Result<Repository> {
        Self::open_with(path, &LoadOptions::default())
    }

    /// Opens the repository at `path` and loads the models `options` selects. Without strict model config,
    /// a model that needs auto-completion from its ONNX file is an error here: use
    /// [`Repository::open_inspecting`].
    pub fn open_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Repository> {
        let repo = Self::open_inner(path.as_ref(), options, None)?;
        repo.check_ensembles()?;
        Ok(repo)
    }

    /// Like [`Repository::open_with`], reading model files' signatures with `inspect` where
    /// auto-completion needs them (`strict_model_config(false)`).
    pub fn open_inspecting(
        path: impl AsRef<Path>,
        options: &LoadOptions,
        inspect: Inspector<'_>,
    ) -> Result<Repository> {
        let repo = Self::open_inner(path.as_ref(), options, Some(inspect))?;
        repo.check_ensembles()?;
        Ok(repo)
    }

    /// Like [`Repository::open_inspecting`], without the checks of ensembles against their steps, which
    /// the caller runs with [`Repository::check_ensembles`] once it has checked the steps' model files (the
    /// order in which Triton reports errors: a step's own error before the ensemble's).
    pub(crate) fn open_deferred(path: &Path, options: &LoadOptions, inspect: Inspector<'_>) -> Result<Repository> {
        Self::open_inner(path, options, Some(inspect))
    }

    /// Triton's checks of every loaded ensemble against its loaded steps (see the module docs).
    pub(crate) fn check_ensembles(&self) -> Result<()> {
        for entry in self.models.values() {
            if entry.is_ensemble() {
                ensemble_checks(entry, &self.models)?;
            }
        }
        Ok(())
    }

    fn open_inner(given: &Path, options: &LoadOptions, inspect: Option<Inspector<'_>>) -> Result<Repository> {
        let root = fs::canonicalize(given)
            .map_err(|e| repo_err(RepositoryErrorKind::NotAFolder, given, format!("cannot open the folder: {e}")))?;
        if !root.is_dir() {
            return Err(repo_err(RepositoryErrorKind::NotAFolder, given, "is not a folder"));
        }
        let candidates = scan(&root, options.strict_model_config)?;
        let available = || {
            if candidates.is_empty() {
                "none".to_string()
            } else {
                candidates.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
            }
        };

        let mut queue: VecDeque<String> = VecDeque::new();
        match &options.load_models {
            None => queue.extend(candidates.keys().cloned()),
            Some(names) => {
                for name in names {
                    check_name(name).map_err(|m| {
                        repo_err(RepositoryErrorKind::InvalidName, &root, format!("cannot load model `{name}`: {m}"))
                    })?;
                    if !candidates.contains_key(name) {
                        return Err(repo_err(
                            RepositoryErrorKind::ModelNotFound,
                            &root,
                            format!("model `{name}` is not in the repository; available models: {}", available()),
                        ));
                    }
                    queue.push_back(name.clone());
                }
            }
        }

        let mut models: BTreeMap<String, ModelEntry> = BTreeMap::new();
        while let Some(name) = queue.pop_front() {
            if models.contains_key(&name) {
                continue;
            }
            let Some(dir) = candidates.get(&name) else {
                return Err(repo_err(
                    RepositoryErrorKind::ModelNotFound,
                    &root,
                    format!("model `{name}` is not in the repository"),
                ));
            };
            let (entry, warnings) = load_model(&root, &name, dir, options, inspect, false)?;
            for w in &warnings {
                tracing::warn!(model = %name, "{w}");
            }
            if let Some(ensemble) = &entry.config.ensemble {
                let mut missing = BTreeSet::new();
                for (i, step) in ensemble.steps.iter().enumerate() {
                    let target = &step.model_name;
                    if let Err(m) = check_name(target) {
                        return Err(Error::Ensemble {
                            model: name.clone(),
                            kind: EnsembleErrorKind::UnknownModel,
                            message: format!("step {i} runs model `{target}`: {m}"),
                        });
                    }
                    if !candidates.contains_key(target) {
                        missing.insert(target.clone());
                    } else if !models.contains_key(target) {
                        if options.load_models.is_some() {
                            tracing::debug!(ensemble = %name, model = %target, "loading a model the ensemble runs");
                        }
                        queue.push_back(target.clone());
                    }
                }
                if !missing.is_empty() {
                    return Err(Error::Ensemble {
                        model: name.clone(),
                        kind: EnsembleErrorKind::UnknownModel,
                        message: format!(
                            "ensemble {name} contains models that are not available or ambiguous: {} \
                             (the repository {} has: {})",
                            missing.into_iter().collect::<Vec<_>>().join(", "),
                            root.display(),
                            available()
                        ),
                    });
                }
            }
            models.insert(name, entry);
        }
        tracing::debug!(path = %root.display(), models = models.len(), "model repository loaded");
        Ok(Repository { path: root, models })
    }

    /// Checks every model of the repository at `path` (or those `options` selects) as Triton would load
    /// them, without running anything, and reports each model's outcome: its config (schema, Triton's
    /// rules, auto-completion without strict model config), its files (every served version of an ONNX
    /// model against its config, when `inspect` reads signatures), and, for an ensemble, its steps. A model
    /// that fails does not stop the others; an ensemble whose step fails fails with Triton's "depends on"
    /// message. Models of other backends are checked as far as their configs go. Errors about the
    /// repository itself (not a folder, an unknown name in `load_models`) are returned as `Err`.
    pub fn check(
        path: impl AsRef<Path>,
        options: &LoadOptions,
        inspect: Option<Inspector<'_>>,
    ) -> Result<Vec<ModelCheck>> {
        let given = path.as_ref();
        let root = fs::canonicalize(given)
            .map_err(|e| repo_err(RepositoryErrorKind::NotAFolder, given, format!("cannot open the folder: {e}")))?;
        if !root.is_dir() {
            return Err(repo_err(RepositoryErrorKind::NotAFolder, given, "is not a folder"));
        }
        let candidates = scan(&root, options.strict_model_config)?;
        if let Some(names) = &options.load_models
            && let Some(unknown) = names.iter().find(|n| !candidates.contains_key(*n))
        {
            return Err(repo_err(
                RepositoryErrorKind::ModelNotFound,
                &root,
                format!("model `{unknown}` is not in the repository"),
            ));
        }
        let mut reports = Vec::new();
        let mut loaded: BTreeMap<String, ModelEntry> = BTreeMap::new();
        for (name, dir) in &candidates {
            let mut report = ModelCheck {
                name: name.clone(),
                versions: Vec::new(),
                platform: String::new(),
                files_checked: false,
                warnings: Vec::new(),
                config: None,
                error: None,
            };
            match load_model(&root, name, dir, options, inspect, true) {
                Ok((entry, warnings)) => {
                    report.warnings = warnings;
                    report.versions = entry.served_versions();
                    report.platform = platform_of(&entry.config);
                    report.config = Some(entry.config.clone());
                    if entry.config.is_onnx()
                        && let Some(inspect) = inspect
                    {
                        report.files_checked = true;
                        for v in entry.served_versions() {
                            let file = entry.model_file(v);
                            if let Err(e) = inspect(name, &file).and_then(|sig| validate_model(&entry, &file, &sig)) {
                                report.error = Some(e);
                                break;
                            }
                        }
                    }
                    if report.error.is_none() {
                        loaded.insert(name.clone(), entry);
                    }
                }
                Err(e) => report.error = Some(e),
            }
            reports.push(report);
        }
        // Ensembles, once their steps are known: dependencies, then Triton's cross-model checks, then the plan.
        let failed: HashMap<String, String> =
            reports.iter().filter_map(|r| r.error.as_ref().map(|e| (r.name.clone(), e.to_string()))).collect();
        let repo = Repository { path: root.clone(), models: loaded.clone() };
        for report in &mut reports {
            let Some(entry) = loaded.get(&report.name).filter(|e| e.is_ensemble()) else {
                continue;
            };
            let name = &report.name;
            let err = |kind: EnsembleErrorKind, message: String| Error::Ensemble { model: name.clone(), kind, message };
            let steps = entry.config.ensemble.as_ref().map(|s| s.steps.as_slice()).unwrap_or_default();
            let missing: BTreeSet<&str> =
                steps.iter().map(|s| s.model_name.as_str()).filter(|m| !candidates.contains_key(*m)).collect();
            let result = if !missing.is_empty() {
                Err(err(
                    EnsembleErrorKind::UnknownModel,
                    format!(
                        "ensemble {name} contains models that are not available or ambiguous: {}",
                        missing.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ))
            } else if let Some((dep, why)) =
                steps.iter().find_map(|s| failed.get(&s.model_name).map(|w| (s.model_name.clone(), w.clone())))
            {
                Err(err(
                    EnsembleErrorKind::InvalidPlan,
                    format!(
                        "ensemble '{name}' depends on '{dep}' which is not valid. Model '{dep}' failed with error: {why}"
                    ),
                ))
            } else {
                ensemble_checks(entry, &loaded)
                    .and_then(|()| crate::ensemble::EnsemblePlan::build(&repo, entry).map(drop))
            };
            if let Err(e) = result {
                report.error = Some(e);
            }
        }
        if let Some(names) = &options.load_models {
            // Triton's explicit mode: the named models and, through ensembles, what they run.
            let mut keep: Vec<String> = names.clone();
            let mut i = 0;
            while let Some(name) = keep.get(i).cloned() {
                i += 1;
                let steps = loaded.get(&name).and_then(|e| e.config.ensemble.as_ref()).map(|s| s.steps.clone());
                for s in steps.unwrap_or_default() {
                    if !keep.contains(&s.model_name) {
                        keep.push(s.model_name);
                    }
                }
            }
            reports.retain(|r| keep.contains(&r.name));
        }
        Ok(reports)
    }

    /// The repository's root folder (canonicalized).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every loaded model, by name.
    pub fn models(&self) -> impl Iterator<Item = &ModelEntry> {
        self.models.values()
    }

    /// The loaded model called `name`.
    pub fn model(&self, name: &str) -> Option<&ModelEntry> {
        self.models.get(name)
    }
}

/// The platform, else the backend.
fn platform_of(c: &ModelConfig) -> String {
    if c.platform.is_empty() { c.backend.clone() } else { c.platform.clone() }
}

/// Triton's checks of a loaded ensemble against its loaded steps: circular dependencies between ensembles,
/// required versions, then `ValidateEnsembleConfig`.
fn ensemble_checks(entry: &ModelEntry, models: &BTreeMap<String, ModelEntry>) -> Result<()> {
    let name = entry.config.name.clone();
    let err = |kind: EnsembleErrorKind, message: String| Error::Ensemble { model: name.clone(), kind, message };
    if let Some(path) = cycle_from(&name, models) {
        return Err(err(
            EnsembleErrorKind::InvalidPlan,
            format!("circular dependency between ensembles: {name} -> ... -> {path} -> {name}"),
        ));
    }
    let steps = entry.config.ensemble.as_ref().map(|s| s.steps.as_slice()).unwrap_or_default();
    for step in steps {
        let served = models.get(&step.model_name).map(ModelEntry::served_versions).unwrap_or_default();
        if served.is_empty() {
            return Err(err(
                EnsembleErrorKind::VersionNotServed,
                format!("ensemble '{name}' depends on '{}' which has no loaded version.", step.model_name),
            ));
        }
        if step.model_version >= 0 && !served.contains(&step.model_version) {
            return Err(err(
                EnsembleErrorKind::VersionNotServed,
                format!(
                    "ensemble '{name}' depends on '{}' whose required version {} is not loaded. (it serves {served:?})",
                    step.model_name, step.model_version
                ),
            ));
        }
    }
    let configs: HashMap<String, ModelConfig> = steps
        .iter()
        .filter_map(|s| models.get(&s.model_name).map(|m| (s.model_name.clone(), m.config.clone())))
        .collect();
    check::validate_ensemble(&entry.config, &configs).map_err(|m| err(EnsembleErrorKind::InvalidPlan, m))
}

/// When `start` reaches itself through ensemble steps: the last model before it (Triton's message names it).
fn cycle_from(start: &str, models: &BTreeMap<String, ModelEntry>) -> Option<String> {
    fn visit(at: &str, start: &str, models: &BTreeMap<String, ModelEntry>, seen: &mut Vec<String>) -> Option<String> {
        let steps = models.get(at)?.config.ensemble.as_ref()?;
        for step in &steps.steps {
            if step.model_name == start {
                return Some(at.to_string());
            }
            if seen.contains(&step.model_name) {
                continue;
            }
            seen.push(step.model_name.clone());
            if let Some(found) = visit(&step.model_name, start, models, seen) {
                return Some(found);
            }
        }
        None
    }
    visit(start, start, models, &mut Vec::new())
}

fn repo_err(kind: RepositoryErrorKind, path: &Path, message: impl Into<String>) -> Error {
    Error::Repository { path: path.to_path_buf(), kind, message: message.into() }
}

/// The model folders of `root`, by name: subfolders (or links to folders) holding a `config.pbtxt`, or,
/// without strict model config, every subfolder (Triton treats each as a model).
fn scan(root: &Path, strict: bool) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            tracing::debug!(path = %path.display(), "skipping an entry whose name is not UTF-8");
            continue;
        };
        // `is_dir` follows links; where a link leads is checked when the model is loaded.
        if !path.is_dir() {
            tracing::debug!(path = %path.display(), "skipping a file at the repository's top level");
            continue;
        }
        if strict && !path.join(CONFIG_FILE).is_file() {
            tracing::debug!(path = %path.display(), "skipping a folder without config.pbtxt (strict model config)");
            continue;
        }
        out.insert(name, path);
    }
    Ok(out)
}

/// A model name or file name must be one plain path component.
fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".to_string());
    }
    if name.contains(['/', '\\', '\0']) || name.contains("..") || Path::new(name).is_absolute() || name == "." {
        return Err(format!("`{name}` is not a plain name (it must not contain `/`, `\\` or `..`)"));
    }
    Ok(())
}

/// `path` after following links must be inside `root`; `what` names it in the error.
fn check_inside(root: &Path, path: &Path, what: &str) -> Result<PathBuf> {
    let real = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    if !real.starts_with(root) {
        return Err(repo_err(
            RepositoryErrorKind::OutsideRoot,
            path,
            format!("the {what} resolves to {}, outside the repository {}", real.display(), root.display()),
        ));
    }
    Ok(real)
}

/// The versions a tree's `version_policy` serves among `versions` (before the typed config exists).
fn served_by_tree(tree: &Message, versions: &[i64]) -> Vec<i64> {
    let vp = View::of(tree).msg("version_policy");
    let policy = if vp.has("specific") {
        VersionPolicy::Specific(vp.msg("specific").ints("versions"))
    } else if vp.has("all") {
        VersionPolicy::All
    } else if vp.has("latest") {
        VersionPolicy::Latest { num_versions: u32::try_from(vp.msg("latest").uint("num_versions")).unwrap_or(u32::MAX) }
    } else {
        VersionPolicy::default()
    };
    served(&policy, versions)
}

/// Loads one model folder: its config read, completed and checked as Triton does; its versions; its files.
/// `any_backend` accepts configs of backends this crate cannot run (for [`Repository::check`]). Returns the
/// entry and Triton's warnings.
fn load_model(
    root: &Path,
    name: &str,
    dir: &Path,
    options: &LoadOptions,
    inspect: Option<Inspector<'_>>,
    any_backend: bool,
) -> Result<(ModelEntry, Vec<String>)> {
    check_name(name).map_err(|m| repo_err(RepositoryErrorKind::InvalidName, dir, format!("model folder name: {m}")))?;
    check_inside(root, dir, "model folder")?;
    let config_path = dir.join(CONFIG_FILE);
    let mut tree = if fs::symlink_metadata(&config_path).is_ok() || options.strict_model_config {
        check_inside(root, &config_path, "config file")?;
        config::parse_file(&config_path)?
    } else {
        tracing::debug!(model = name, "no config.pbtxt: auto-completing the whole config");
        Message::default()
    };
    let folder = autocomplete::Folder::read(dir);
    config::prepare(&mut tree, &config_path, name, &folder)?;

    let mut warnings = Vec::new();
    let versions = read_versions(root, dir)?;
    let served = served_by_tree(&tree, &versions);
    let view = View::of(&tree);
    for v in view.msg("version_policy").msg("specific").ints("versions") {
        if !versions.contains(&v) {
            warnings.push(format!(
                "version {v} is specified for model '{name}', but the version directory is not present \
                 (versions present: {versions:?})"
            ));
        }
    }
    let Some(&latest) = served.last() else {
        return Err(repo_err(
            RepositoryErrorKind::MissingVersion,
            dir,
            format!(
                "at least one version must be available under the version policy of model '{name}' \
                 (version folders present: {versions:?})"
            ),
        ));
    };

    let onnx = view.str("platform") == "onnxruntime_onnx" || view.str("backend") == "onnxruntime";
    if !options.strict_model_config && onnx && autocomplete::needs_model(&tree) {
        let file_name = view.str("default_model_filename");
        let file_name = if file_name.is_empty() { DEFAULT_MODEL_FILENAME } else { file_name };
        check_name(file_name).map_err(|m| {
            repo_err(RepositoryErrorKind::InvalidName, &config_path, format!("default_model_filename: {m}"))
        })?;
        let file = dir.join(latest.to_string()).join(file_name);
        let Some(inspect) = inspect else {
            return Err(config_error(
                &config_path,
                name,
                "auto-completing the config (strict_model_config is false) needs the ONNX file's inputs and \
                 outputs: open the repository with Repository::open_inspecting, or through the Pipeline builder",
            ));
        };
        check_inside(root, &file, "model file")?;
        let sig = inspect(name, &file)?;
        let more = autocomplete::complete_from_model(&mut tree, &sig, DEFAULT_MAX_BATCH_SIZE)
            .map_err(|m| config_error(&config_path, name, m))?;
        warnings.extend(more);
        check::validate_model_config(View::of(&tree)).map_err(|m| config_error(&config_path, name, m))?;
    }
    let config = config::finish(&tree, &config_path, name, options.available_gpus.as_deref())?;

    if !any_backend && !config.is_ensemble() && !config.is_onnx() {
        return Err(Error::Config {
            path: config_path,
            model: name.to_string(),
            kind: ConfigErrorKind::UnsupportedPlatform,
            message: format!(
                "platform `{}` / backend `{}` is not supported: clo-pipeline runs ONNX models \
                 (`platform: \"onnxruntime_onnx\"` or `backend: \"onnxruntime\"`) and ensembles",
                config.platform, config.backend
            ),
        });
    }
    if !any_backend && config.implicit_inputs > 0 {
        return Err(Error::Config {
            path: config_path,
            model: name.to_string(),
            kind: ConfigErrorKind::UnsupportedPlatform,
            message: "batch inputs, sequence-batching controls and states are inputs Triton's schedulers make; \
             clo-pipeline does not make them, so it cannot run this model"
                .to_string(),
        });
    }
    if let Some(file) = &config.default_model_filename {
        check_name(file).map_err(|m| {
            repo_err(RepositoryErrorKind::InvalidName, &config_path, format!("default_model_filename: {m}"))
        })?;
    }
    let entry = ModelEntry { config, dir: dir.to_path_buf(), config_path, versions };
    if entry.config.is_onnx() {
        for v in entry.served_versions() {
            let file = entry.model_file(v);
            if fs::symlink_metadata(&file).is_err() {
                return Err(repo_err(
                    RepositoryErrorKind::MissingModelFile,
                    &file,
                    format!("the model file of version {v} is missing"),
                ));
            }
            let real = check_inside(root, &file, "model file")?;
            if !real.is_file() {
                return Err(repo_err(
                    RepositoryErrorKind::MissingModelFile,
                    &file,
                    format!("the model file of version {v} is not a file"),
                ));
            }
        }
    }
    tracing::debug!(
        model = name,
        path = %dir.display(),
        versions = ?entry.versions,
        served = ?entry.served_versions(),
        ensemble = entry.is_ensemble(),
        "model loaded"
    );
    Ok((entry, warnings))
}

/// Triton's version of a folder name (`std::stoll`): optional blanks and sign, then the leading digits.
fn version_of(name: &str) -> Option<i64> {
    let t = name.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    let n: i64 = digits.get(..end).filter(|d| !d.is_empty())?.parse().ok()?;
    Some(sign * n)
}

/// The version folders of a model folder, ascending, by Triton's rules (see the module docs).
fn read_versions(root: &Path, dir: &Path) -> Result<Vec<i64>> {
    let mut versions = BTreeSet::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            tracing::debug!(path = %path.display(), "ignoring an entry whose name is not UTF-8");
            continue;
        };
        if !path.is_dir() || ["warmup", "initial_state", "configs"].contains(&name) {
            continue;
        }
        if name.len() > 1 && name.starts_with('0') {
            tracing::warn!(path = %path.display(), "ignoring a version folder whose name has leading zeros (as Triton does)");
            continue;
        }
        let Some(version) = version_of(name) else {
            tracing::debug!(path = %path.display(), "ignoring a folder whose name is not a version number");
            continue;
        };
        check_inside(root, &path, "version folder")?;
        versions.insert(version);
    }
    Ok(versions.into_iter().collect())
}
