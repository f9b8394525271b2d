//! Finding ONNX Runtime: an explicit setting (the builder's `library_path`, else `ORT_DYLIB_PATH`) is the only
//! place tried and a bad one is an error that says so; with nothing set and nothing found, one error lists every
//! place tried and what to install (never a panic); a second, different explicit library in a process that has
//! loaded one is an error. Each case runs as a child process (a process can load ONNX Runtime only once).

use std::path::Path;
use std::process::Command;

const CHILD: &str = "CLO_RUNTIME_MISSING_CHILD";

/// The project-local ONNX Runtime that `scripts/setup.sh` installs (the tests' own).
fn local_library() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".local/onnxruntime/libonnxruntime.so")
}

/// Runs `case` in a child process with `env` and `cwd`, and returns the error text it printed.
fn child(case: &str, cwd: &Path, env: &[(&str, &str)], path: Option<&Path>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", case, "--nocapture"]).current_dir(cwd).env(CHILD, "1").env_remove("ORT_DYLIB_PATH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(p) = path {
        cmd.env("PATH", p).env_remove("LD_LIBRARY_PATH");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.split("ERROR-START").nth(1).and_then(|s| s.split("ERROR-END").next()).unwrap().to_string()
}

fn report(err: &clo_pipeline::Error) {
    println!("ERROR-START\n{err}\nERROR-END");
}

#[test]
fn nothing_found_lists_every_place_tried_and_what_to_install() {
    if std::env::var_os(CHILD).is_some() {
        let err = clo_pipeline::runtime::Runtime::load(None).unwrap_err();
        report(&err);
        assert!(matches!(err, clo_pipeline::Error::RuntimeNotFound { .. }), "{err:?}");
        return;
    }
    let empty = std::env::temp_dir().join(format!("clo-no-ort-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let msg = child("nothing_found_lists_every_place_tried_and_what_to_install", &empty, &[], Some(&empty));
    std::fs::remove_dir_all(&empty).unwrap();
    for place in [
        "builder's library_path: not set",
        "ORT_DYLIB_PATH: not set",
        ".local/onnxruntime/ (project-local)",
        "Python onnxruntime package: python3 could not be run",
        "libonnxruntime.so (system library search path)",
        "pip install onnxruntime==1.31.1",
    ] {
        assert!(msg.contains(place), "`{place}` missing from:\n{msg}");
    }
}

#[test]
fn a_bad_ort_dylib_path_is_an_error_even_where_another_library_would_load() {
    if std::env::var_os(CHILD).is_some() {
        let err = clo_pipeline::runtime::Runtime::load(None).unwrap_err();
        report(&err);
        assert!(matches!(err, clo_pipeline::Error::RuntimeNotFound { .. }), "{err:?}");
        return;
    }
    // From the project root, where .local/onnxruntime/ would load: the explicit setting still wins.
    assert!(local_library().exists(), "scripts/setup.sh installs {}", local_library().display());
    let msg = child(
        "a_bad_ort_dylib_path_is_an_error_even_where_another_library_would_load",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[("ORT_DYLIB_PATH", "nope.so")],
        None,
    );
    assert!(msg.contains("nope.so (ORT_DYLIB_PATH): no such file"), "{msg}");
    assert!(msg.contains("no other place was tried"), "{msg}");
    assert!(!msg.contains("project-local") && !msg.contains("Python"), "searched past the explicit setting:\n{msg}");
}

#[test]
fn a_bad_library_path_is_an_error_and_wins_over_the_environment() {
    if std::env::var_os(CHILD).is_some() {
        let err = clo_pipeline::runtime::Runtime::load(Some(Path::new("/nonexistent/lib.so"))).unwrap_err();
        report(&err);
        return;
    }
    let lib = local_library();
    let msg = child(
        "a_bad_library_path_is_an_error_and_wins_over_the_environment",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[("ORT_DYLIB_PATH", lib.to_str().unwrap())],
        None,
    );
    assert!(msg.contains("/nonexistent/lib.so (builder's library_path): no such file"), "{msg}");
    assert!(!msg.contains("(ORT_DYLIB_PATH)"), "{msg}");
}

#[test]
fn a_second_different_library_in_one_process_is_an_error() {
    if std::env::var_os(CHILD).is_some() {
        let lib = local_library();
        let rt = clo_pipeline::runtime::Runtime::load(Some(&lib)).unwrap();
        // The same library again (by its folder) is fine; another one is not.
        clo_pipeline::runtime::Runtime::load(Some(lib.parent().unwrap())).unwrap();
        let other = std::env::temp_dir().join(format!("clo-other-ort-{}.so", std::process::id()));
        std::fs::write(&other, b"not a library").unwrap();
        let err = clo_pipeline::runtime::Runtime::load(Some(&other)).unwrap_err();
        std::fs::remove_file(&other).unwrap();
        assert!(matches!(err, clo_pipeline::Error::InvalidParameter { name: "library_path", .. }), "{err:?}");
        drop(rt);
        report(&err);
        return;
    }
    let msg = child(
        "a_second_different_library_in_one_process_is_an_error",
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[],
        None,
    );
    assert!(msg.contains("already loaded in this process from") && msg.contains("only once"), "{msg}");
}
