//! Opening model repositories laid out on disk: the guide's repository, explicit load lists, version
//! policies, layout errors and path safety.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clo_pipeline::repository::{LoadOptions, Repository, VersionPolicy};
use clo_pipeline::{ConfigErrorKind, EnsembleErrorKind, Error, RepositoryErrorKind};

const GUIDE_MODELS: [&str; 5] = ["preprocessing", "yolov8", "postprocessing", "efficientnet_v2", "ensemble"];

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let path = std::env::temp_dir().join(format!("clo-repo-test-{}-{tag}-{n}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `content` at `rel`, creating the folders on the way.
    fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }

    fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.0.join(rel);
        fs::create_dir_all(&p).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn guide_config(name: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/configs/{name}.pbtxt")))
        .unwrap()
}

/// The guide's repository: four ONNX models with `1/model.onnx` and the ensemble with an empty `1/`.
fn guide_repo() -> TempDir {
    let t = TempDir::new("guide");
    for name in GUIDE_MODELS {
        t.write(&format!("{name}/config.pbtxt"), &guide_config(name));
        if name == "ensemble" {
            t.mkdir("ensemble/1");
        } else {
            t.write(&format!("{name}/1/model.onnx"), "not really onnx");
        }
    }
    t
}

const ONNX_MODEL: &str = r#"platform: "onnxruntime_onnx"
input { name: "x" data_type: TYPE_FP32 dims: [1] }
output { name: "y" data_type: TYPE_FP32 dims: [1] }
"#;

/// The path and message of the `Error::Repository` of kind `want` that `r` must be.
fn repo_error(r: Result<Repository, Error>, want: RepositoryErrorKind) -> (PathBuf, String) {
    match r {
        Err(Error::Repository { path, kind, message }) => {
            assert_eq!(kind, want, "{message}");
            (path, message)
        }
        Err(e) => panic!("expected Error::Repository, got {e:?}"),
        Ok(r) => panic!("expected an error, got {:?}", r.models().map(|m| m.name().to_string()).collect::<Vec<_>>()),
    }
}

fn names(r: &Repository) -> Vec<String> {
    r.models().map(|m| m.name().to_string()).collect()
}

#[test]
fn opens_the_guides_repository() {
    let t = guide_repo();
    // Clutter that Triton's layout allows around the models.
    t.write("README.md", "notes");
    t.mkdir("not_a_model/1");
    t.mkdir("yolov8/.ipynb_checkpoints");
    t.write("yolov8/labels.txt", "oiler");
    let repo = Repository::open(t.path()).unwrap();
    assert_eq!(names(&repo), ["efficientnet_v2", "ensemble", "postprocessing", "preprocessing", "yolov8"]);
    assert_eq!(repo.path(), fs::canonicalize(t.path()).unwrap());
    let ens = repo.model("ensemble").unwrap();
    assert!(ens.is_ensemble());
    assert_eq!(ens.served_versions(), [1]);
    assert_eq!(ens.config.ensemble.as_ref().unwrap().steps.len(), 4);
    let yolo = repo.model("yolov8").unwrap();
    assert!(!yolo.is_ensemble());
    assert_eq!(yolo.versions, [1]);
    assert_eq!(yolo.latest_version(), Some(1));
    assert_eq!(yolo.model_file(1), repo.path().join("yolov8/1/model.onnx"));
    assert_eq!(yolo.config_path, repo.path().join("yolov8/config.pbtxt"));
    assert_eq!(yolo.dir, repo.path().join("yolov8"));
    assert!(repo.model("not_a_model").is_none());
}

#[test]
fn explicit_load_list_follows_ensembles() {
    let t = guide_repo();
    // A broken model that is not asked for does not matter in explicit mode.
    t.write("broken/config.pbtxt", "input [");
    let all = Repository::open_with(t.path(), &LoadOptions::default().load_model("ensemble")).unwrap();
    assert_eq!(names(&all), ["efficientnet_v2", "ensemble", "postprocessing", "preprocessing", "yolov8"]);
    // The guide's deployment names all five.
    let mut opts = LoadOptions::default();
    for name in ["yolov8", "efficientnet_v2", "preprocessing", "postprocessing", "ensemble"] {
        opts = opts.load_model(name);
    }
    assert_eq!(Repository::open_with(t.path(), &opts).unwrap().models().count(), 5);
    let one = Repository::open_with(
        t.path(),
        &LoadOptions { load_models: Some(vec!["yolov8".into()]), ..LoadOptions::default() },
    )
    .unwrap();
    assert_eq!(names(&one), ["yolov8"]);
    let none =
        Repository::open_with(t.path(), &LoadOptions { load_models: Some(vec![]), ..LoadOptions::default() }).unwrap();
    assert_eq!(none.models().count(), 0);

    let (path, message) = repo_error(
        Repository::open_with(t.path(), &LoadOptions::default().load_model("yolov9")),
        RepositoryErrorKind::ModelNotFound,
    );
    assert_eq!(path, fs::canonicalize(t.path()).unwrap());
    assert!(message.contains("model `yolov9` is not in the repository"), "{message}");
    assert!(
        message.contains("available models: broken, efficientnet_v2, ensemble, postprocessing, preprocessing, yolov8"),
        "{message}"
    );
    // Loading everything reaches the broken config.
    match Repository::open(t.path()) {
        Err(Error::ConfigSyntax { path, line, col, message }) => {
            assert!(path.ends_with("broken/config.pbtxt"));
            assert_eq!((line, col), (1, 8));
            assert!(message.contains("end of file"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ensemble_references() {
    let t = guide_repo();
    fs::remove_dir_all(t.path().join("yolov8")).unwrap();
    match Repository::open_with(t.path(), &LoadOptions::default().load_model("ensemble")) {
        Err(Error::Ensemble { model, kind, message }) => {
            assert_eq!(model, "ensemble");
            assert_eq!(kind, EnsembleErrorKind::UnknownModel);
            assert!(
                message.contains("ensemble ensemble contains models that are not available or ambiguous: yolov8"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }

    let t = guide_repo();
    let pinned = guide_config("ensemble").replacen("model_version: -1", "model_version: 2", 1);
    t.write("ensemble/config.pbtxt", &pinned);
    match Repository::open(t.path()) {
        Err(Error::Ensemble { model, kind, message }) => {
            assert_eq!(model, "ensemble");
            assert_eq!(kind, EnsembleErrorKind::VersionNotServed);
            assert!(
                message
                    .contains("ensemble 'ensemble' depends on 'preprocessing' whose required version 2 is not loaded"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    t.write("preprocessing/2/model.onnx", "v2");
    t.write(
        "preprocessing/config.pbtxt",
        &format!("{}\nversion_policy: {{ all {{ }} }}", guide_config("preprocessing")),
    );
    Repository::open(t.path()).unwrap();

    let t = guide_repo();
    t.write("ensemble/config.pbtxt", &guide_config("ensemble").replace("\"yolov8\"", "\"../yolov8\""));
    match Repository::open(t.path()) {
        Err(Error::Ensemble { model, kind, message }) => {
            assert_eq!(model, "ensemble");
            assert_eq!(kind, EnsembleErrorKind::UnknownModel);
            assert!(message.contains("not a plain name"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // A self-referencing ensemble does not loop: it is Triton's circular dependency.
    let t = TempDir::new("selfref");
    t.write(
        "e/config.pbtxt",
        r#"platform: "ensemble"
input { name: "x" data_type: TYPE_FP32 dims: 1 }
output { name: "y" data_type: TYPE_FP32 dims: 1 }
ensemble_scheduling { step { model_name: "e" input_map { key: "x" value: "x" } output_map { key: "y" value: "y" } } }"#,
    );
    t.mkdir("e/1");
    match Repository::open_with(t.path(), &LoadOptions::default().load_model("e")) {
        Err(Error::Ensemble { model, message, kind }) => {
            assert_eq!(kind, EnsembleErrorKind::InvalidPlan);
            assert_eq!(model, "e");
            assert_eq!(message, "circular dependency between ensembles: e -> ... -> e -> e");
        }
        other => panic!("{other:?}"),
    }
}

/// A model `m` with the given version folders (each holding model.onnx) and version policy.
fn versioned(versions: &[&str], policy: &str) -> TempDir {
    let t = TempDir::new("versions");
    t.write("m/config.pbtxt", &format!("{ONNX_MODEL}{policy}"));
    for v in versions {
        t.write(&format!("m/{v}/model.onnx"), "x");
    }
    t
}

#[test]
fn version_policies() {
    let served = |versions: &[&str], policy: &str| {
        let t = versioned(versions, policy);
        // Clutter: non-numeric folders and files, a leading-zero folder, a file named like a version.
        t.mkdir("m/old");
        t.mkdir("m/007");
        t.write("m/42", "a file");
        t.write("m/notes.txt", "");
        let repo = Repository::open(t.path()).unwrap();
        let m = repo.model("m").unwrap();
        assert_eq!(m.versions.iter().map(i64::to_string).collect::<Vec<_>>(), versions);
        m.served_versions()
    };
    let vs = ["1", "2", "3", "10"];
    assert_eq!(served(&vs, ""), [10]);
    assert_eq!(served(&vs, "version_policy: { latest: { num_versions: 2 } }"), [3, 10]);
    assert_eq!(served(&vs, "version_policy: { latest: { num_versions: 9 } }"), [1, 2, 3, 10]);
    assert_eq!(served(&vs, "version_policy: { all: { } }"), [1, 2, 3, 10]);
    assert_eq!(served(&vs, "version_policy: { specific: { versions: [1, 3] } }"), [1, 3]);
    assert_eq!(served(&["0"], ""), [0]);

    // Triton loads the specific versions that exist (and logs the others); none at all is an error.
    let t = versioned(&vs, "version_policy: { specific: { versions: [1, 4] } }");
    assert_eq!(Repository::open(t.path()).unwrap().model("m").unwrap().served_versions(), [1]);
    let t = versioned(&vs, "version_policy: { specific: { versions: [4] } }");
    let (path, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::MissingVersion);
    assert!(path.ends_with("m"), "{}", path.display());
    assert!(
        message.contains("at least one version must be available under the version policy of model 'm'"),
        "{message}"
    );
    assert!(message.contains("[1, 2, 3, 10]"), "{message}");
    // An empty `latest` has num_versions 0 (proto3), which serves nothing.
    let t = versioned(&vs, "version_policy: { latest: { } }");
    let (_, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::MissingVersion);
    assert!(message.contains("at least one version must be available"), "{message}");

    let t = versioned(&vs, "");
    let repo = Repository::open(t.path()).unwrap();
    assert_eq!(repo.model("m").unwrap().config.version_policy, VersionPolicy::Latest { num_versions: 1 });
}

#[test]
fn layout_errors() {
    // A served version without its model file; an unserved one may lack it.
    let t = versioned(&["1"], "");
    t.mkdir("m/2");
    let (path, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::MissingModelFile);
    assert!(path.ends_with("m/2/model.onnx"), "{}", path.display());
    assert!(message.contains("model file of version 2 is missing"), "{message}");
    t.write("m/config.pbtxt", &format!("{ONNX_MODEL}version_policy: {{ specific {{ versions: 1 }} }}"));
    Repository::open(t.path()).unwrap();

    // No version folder at all, for a model and for an ensemble.
    let t = TempDir::new("noversion");
    t.write("m/config.pbtxt", ONNX_MODEL);
    t.mkdir("m/old");
    let (path, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::MissingVersion);
    assert!(path.ends_with("m"));
    assert!(
        message.contains("at least one version must be available under the version policy of model 'm'"),
        "{message}"
    );
    let t = guide_repo();
    fs::remove_dir_all(t.path().join("ensemble/1")).unwrap();
    let (path, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::MissingVersion);
    assert!(path.ends_with("ensemble"));
    assert!(message.contains("at least one version must be available"), "{message}");

    // The model file is a folder.
    let t = TempDir::new("filedir");
    t.write("m/config.pbtxt", ONNX_MODEL);
    t.mkdir("m/1/model.onnx");
    let (_, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::MissingModelFile);
    assert!(message.contains("is not a file"), "{message}");

    // default_model_filename.
    let t = TempDir::new("filename");
    t.write("m/config.pbtxt", &format!("{ONNX_MODEL}default_model_filename: \"net.onnx\""));
    t.write("m/1/net.onnx", "x");
    let repo = Repository::open(t.path()).unwrap();
    assert!(repo.model("m").unwrap().model_file(1).ends_with("m/1/net.onnx"));

    // The config's name must be the folder's.
    let t = TempDir::new("name");
    t.write("m/config.pbtxt", &format!("name: \"other\"\n{ONNX_MODEL}"));
    t.write("m/1/model.onnx", "x");
    match Repository::open(t.path()) {
        Err(Error::Config { path, model, kind, message }) => {
            assert_eq!(kind, ConfigErrorKind::InvalidField);
            assert!(path.ends_with("m/config.pbtxt"));
            assert_eq!(model, "m");
            assert_eq!(
                message,
                "unexpected directory name 'm' for model 'other', directory name must equal model name"
            );
        }
        other => panic!("{other:?}"),
    }

    // A platform this crate cannot run.
    let t = TempDir::new("platform");
    t.write("m/config.pbtxt", "backend: \"python\"");
    t.write("m/1/model.py", "x");
    match Repository::open(t.path()) {
        Err(Error::Config { kind, message, .. }) => {
            assert_eq!(kind, ConfigErrorKind::UnsupportedPlatform);
            assert!(message.contains("is not supported"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    // The repository itself.
    let t = TempDir::new("missing");
    let missing = t.path().join("nope");
    let (path, message) = repo_error(Repository::open(&missing), RepositoryErrorKind::NotAFolder);
    assert_eq!(path, missing);
    assert!(message.contains("cannot open the folder"), "{message}");
    assert!(Repository::open(&missing).unwrap_err().to_string().starts_with("model repository "));
    let file = t.write("file", "x");
    let (path, message) = repo_error(Repository::open(&file), RepositoryErrorKind::NotAFolder);
    assert_eq!(path, file);
    assert!(message.contains("not a folder"));
    // An empty repository opens, with no models.
    assert_eq!(Repository::open(t.path()).unwrap().models().count(), 0);
}

#[test]
fn path_escapes_are_refused() {
    // (An empty default_model_filename is no filename: proto3's default, completed to model.onnx.)
    for bad in ["../model.onnx", "sub/model.onnx", "sub\\model.onnx", "/etc/passwd", ".."] {
        let t = TempDir::new("escape");
        t.write("m/config.pbtxt", &format!("{ONNX_MODEL}default_model_filename: \"{}\"", bad.replace('\\', "\\\\")));
        t.write("m/1/model.onnx", "x");
        let (path, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::InvalidName);
        assert!(path.ends_with("m/config.pbtxt"), "{bad}: {}", path.display());
        assert!(message.contains("default_model_filename"), "{bad}: {message}");
    }
    let t = guide_repo();
    for bad in ["../yolov8", "/abs", "a/b", "a\\b", ".."] {
        let (_, message) = repo_error(
            Repository::open_with(t.path(), &LoadOptions::default().load_model(bad)),
            RepositoryErrorKind::InvalidName,
        );
        assert!(message.contains("cannot load model"), "{bad}: {message}");
    }
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_repository_are_refused() {
    use std::os::unix::fs::symlink;

    let outside = TempDir::new("outside");
    outside.write("m/config.pbtxt", ONNX_MODEL);
    outside.write("m/1/model.onnx", "x");
    outside.write("model.onnx", "x");

    // A model folder that links outside.
    let t = TempDir::new("linkdir");
    symlink(outside.path().join("m"), t.path().join("m")).unwrap();
    let (path, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::OutsideRoot);
    assert!(path.ends_with("m"));
    assert!(message.contains("model folder resolves to"), "{message}");
    assert!(message.contains("outside the repository"), "{message}");

    // A model file that links outside.
    let t = TempDir::new("linkfile");
    t.write("m/config.pbtxt", ONNX_MODEL);
    t.mkdir("m/1");
    symlink(outside.path().join("model.onnx"), t.path().join("m/1/model.onnx")).unwrap();
    let (path, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::OutsideRoot);
    assert!(path.ends_with("m/1/model.onnx"));
    assert!(message.contains("model file resolves to"), "{message}");

    // A version folder that links outside.
    let t = TempDir::new("linkversion");
    t.write("m/config.pbtxt", ONNX_MODEL);
    symlink(outside.path().join("m/1"), t.path().join("m/1")).unwrap();
    let (_, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::OutsideRoot);
    assert!(message.contains("version folder resolves to"), "{message}");

    // A config that links outside.
    let t = TempDir::new("linkconfig");
    t.mkdir("m");
    symlink(outside.path().join("m/config.pbtxt"), t.path().join("m/config.pbtxt")).unwrap();
    t.write("m/1/model.onnx", "x");
    let (_, message) = repo_error(Repository::open(t.path()), RepositoryErrorKind::OutsideRoot);
    assert!(message.contains("config file resolves to"), "{message}");

    // Links that stay inside the repository are fine, and so is a repository reached through a link.
    let t = TempDir::new("linkinside");
    t.write("shared/net.onnx", "x");
    t.write("m/config.pbtxt", ONNX_MODEL);
    t.mkdir("m/1");
    symlink(t.path().join("shared/net.onnx"), t.path().join("m/1/model.onnx")).unwrap();
    symlink(t.path().join("m"), t.path().join("alias_target")).unwrap();
    let via = TempDir::new("via");
    let link = via.path().join("repo");
    symlink(t.path(), &link).unwrap();
    let repo = Repository::open(&link).unwrap();
    // `alias_target` is a link to `m`: its config names no model, so it loads as `alias_target`.
    assert_eq!(names(&repo), ["alias_target", "m"]);
}
