//! When ONNX Runtime is nowhere to be found, loading fails with one error that lists every place tried and
//! the command that fixes it (never a panic). Runs itself as a child process, from an empty folder, with
//! `ORT_DYLIB_PATH` pointing at nothing and no Python on `PATH`, because a process can load ONNX Runtime
//! only once.

use std::process::Command;

const CHILD: &str = "CLO_RUNTIME_MISSING_CHILD";

#[test]
fn missing_runtime_lists_every_place_tried() {
    if std::env::var_os(CHILD).is_some() {
        let err = clo_pipeline::runtime::Runtime::load(Some(std::path::Path::new("/nonexistent/lib.so"))).unwrap_err();
        println!("ERROR-START\n{err}\nERROR-END");
        assert!(matches!(err, clo_pipeline::Error::RuntimeNotFound { .. }), "{err:?}");
        return;
    }
    let empty = std::env::temp_dir().join(format!("clo-no-ort-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "missing_runtime_lists_every_place_tried", "--nocapture"])
        .current_dir(&empty)
        .env(CHILD, "1")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")
        .env("PATH", &empty)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let msg = stdout.split("ERROR-START").nth(1).and_then(|s| s.split("ERROR-END").next()).unwrap();
    for place in [
        "/nonexistent/lib.so (builder's library_path): no such file",
        "/nonexistent/libonnxruntime.so.1.31.1 (ORT_DYLIB_PATH): no such file",
        ".local/onnxruntime/ (project-local)",
        "Python onnxruntime package: python3 could not be run",
        "libonnxruntime.so (system library search path)",
        "scripts/setup.sh",
    ] {
        assert!(msg.contains(place), "`{place}` missing from:\n{msg}");
    }
}
