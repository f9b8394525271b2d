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
//! Every config is strict (Triton's `--strict-model-config=true`): nothing is auto-completed from the
//! model file. [`validate::validate_model`] checks a config against what the ONNX file declares.
//!
//! Safety of paths: model names and `default_model_filename` must be plain names (no `/`, `\`, `..`,
//! not absolute), and every model folder, config, version folder and model file must resolve (after
//! following links) inside the repository's root.
//!
//! Only ONNX models (`platform: "onnxruntime_onnx"` or `backend: "onnxruntime"`) and ensembles can be
//! loaded; any other platform or backend is an [`Error::Config`] when that model is loaded.

pub mod config;
pub(crate) mod pbtxt;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

pub use config::{DataType, EnsembleScheduling, EnsembleStep, ModelConfig, TensorConfig, VersionPolicy};
pub use validate::{ModelSignature, TensorSignature, validate_model};

use crate::error::{ConfigErrorKind, EnsembleErrorKind, Error, RepositoryErrorKind, Result};

/// The name of a model folder's configuration file.
pub const CONFIG_FILE: &str = "config.pbtxt";

/// The model file's name when the config sets no `default_model_filename`.
pub const DEFAULT_MODEL_FILENAME: &str = "model.onnx";

/// Which models [`Repository::open_with`] loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `None` (the default): every model folder. `Some(names)`: Triton's explicit mode, the named models
    /// plus every model an ensemble among them runs, recursively. An unknown name is an error.
    pub load_models: Option<Vec<String>>,
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
}

/// One loaded model: its config and where its files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelEntry {
    /// The parsed, checked configuration.
    pub config: ModelConfig,
    /// The model's folder, `<repo>/<name>` (the repository root canonicalized).
    pub dir: PathBuf,
    /// `<dir>/config.pbtxt`.
    pub config_path: PathBuf,
    /// Every numeric version folder, ascending (folders named with leading zeros are not versions).
    pub versions: Vec<i64>,
}

impl ModelEntry {
    /// The model's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The versions the version policy serves, ascending: the `num_versions` highest for `latest`,
    /// all for `all`, the listed ones for `specific` (all of which exist, checked at open).
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

    /// Opens the repository at `path` and loads the models `options` selects.
    pub fn open_with(path: impl AsRef<Path>, options: &LoadOptions) -> Result<Repository> {
        let given = path.as_ref();
        let root = fs::canonicalize(given)
            .map_err(|e| repo_err(RepositoryErrorKind::NotAFolder, given, format!("cannot open the folder: {e}")))?;
        if !root.is_dir() {
            return Err(repo_err(RepositoryErrorKind::NotAFolder, given, "is not a folder"));
        }
        let candidates = scan(&root)?;
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
            let entry = load_model(&root, &name, dir)?;
            if let Some(ensemble) = &entry.config.ensemble {
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
                        return Err(Error::Ensemble {
                            model: name.clone(),
                            kind: EnsembleErrorKind::UnknownModel,
                            message: format!(
                                "step {i} runs model `{target}`, which is not in the repository {} \
                                 (available models: {})",
                                root.display(),
                                available()
                            ),
                        });
                    }
                    if !models.contains_key(target) {
                        if options.load_models.is_some() {
                            tracing::debug!(ensemble = %name, model = %target, "loading a model the ensemble runs");
                        }
                        queue.push_back(target.clone());
                    }
                }
            }
            models.insert(name, entry);
        }

        // Ensemble steps that ask for a specific version need it served.
        for entry in models.values() {
            let Some(ensemble) = &entry.config.ensemble else {
                continue;
            };
            for (i, step) in ensemble.steps.iter().enumerate() {
                if step.model_version < 0 {
                    continue;
                }
                let served = models.get(&step.model_name).map(ModelEntry::served_versions).unwrap_or_default();
                if !served.contains(&step.model_version) {
                    return Err(Error::Ensemble {
                        model: entry.config.name.clone(),
                        kind: EnsembleErrorKind::VersionNotServed,
                        message: format!(
                            "step {i} runs version {} of model `{}`, which serves versions {:?}",
                            step.model_version, step.model_name, served
                        ),
                    });
                }
            }
        }

        tracing::debug!(path = %root.display(), models = models.len(), "model repository loaded");
        Ok(Repository { path: root, models })
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

fn repo_err(kind: RepositoryErrorKind, path: &Path, message: impl Into<String>) -> Error {
    Error::Repository { path: path.to_path_buf(), kind, message: message.into() }
}

/// The model folders of `root`: subfolders (or links to folders) holding a `config.pbtxt`, by name.
fn scan(root: &Path) -> Result<BTreeMap<String, PathBuf>> {
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
        if !path.join(CONFIG_FILE).is_file() {
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

fn load_model(root: &Path, name: &str, dir: &Path) -> Result<ModelEntry> {
    check_name(name).map_err(|m| repo_err(RepositoryErrorKind::InvalidName, dir, format!("model folder name: {m}")))?;
    check_inside(root, dir, "model folder")?;
    let config_path = dir.join(CONFIG_FILE);
    check_inside(root, &config_path, "config file")?;
    let config = ModelConfig::from_file(&config_path, name)?;

    if !config.is_ensemble() && !config.is_onnx() {
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
    if let Some(file) = &config.default_model_filename {
        check_name(file).map_err(|m| {
            repo_err(RepositoryErrorKind::InvalidName, &config_path, format!("default_model_filename: {m}"))
        })?;
    }

    let versions = read_versions(root, dir)?;
    if versions.is_empty() {
        return Err(repo_err(
            RepositoryErrorKind::MissingVersion,
            dir,
            "no version folder (such as `1/`); Triton needs one, even for an ensemble".to_string(),
        ));
    }
    if let VersionPolicy::Specific(wanted) = &config.version_policy
        && let Some(missing) = wanted.iter().find(|v| !versions.contains(v))
    {
        return Err(repo_err(
            RepositoryErrorKind::MissingVersion,
            dir,
            format!(
                "version_policy asks for version {missing}, but there is no folder `{missing}/` \
                     (versions present: {versions:?})"
            ),
        ));
    }
    let entry = ModelEntry { config, dir: dir.to_path_buf(), config_path, versions };
    if !entry.is_ensemble() {
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
    Ok(entry)
}

/// The numeric version folders of a model folder, ascending.
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
        if name == CONFIG_FILE {
            continue;
        }
        let numeric = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
        let canonical = numeric && (name == "0" || !name.starts_with('0'));
        let version = if canonical { name.parse::<i64>().ok() } else { None };
        let Some(version) = version else {
            tracing::debug!(path = %path.display(), "ignoring an entry that is not a version folder");
            continue;
        };
        if !path.is_dir() {
            tracing::debug!(path = %path.display(), "ignoring a file with a version number's name");
            continue;
        }
        check_inside(root, &path, "version folder")?;
        versions.insert(version);
    }
    Ok(versions.into_iter().collect())
}
