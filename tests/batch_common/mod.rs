//! Shared by the tests that run the `batch` example binary: finding it, making input folders, reading JSONL.
//!
//! The binary is located by asking Cargo to build it (`$CARGO build --example batch --profile test
//! --message-format=json`: the same Cargo, target folder and profile as the running tests) and taking the
//! `executable` path from its `compiler-artifact` message. That is a no-op when `cargo test` already built the examples, it
//! never runs a stale binary when only this test was rebuilt (`cargo test --test binaries batch_run::`), and it needs no
//! guess about where the target folder is.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use clo_pipeline::image;

pub fn batch_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--example",
            "batch",
            "--message-format=json-render-diagnostics",
        ]);
        // The profile `cargo test` builds with (`test`, or `bench` for `--release`): its library artifacts are
        // already built, so only the example is linked.
        cmd.args(["--profile", if cfg!(debug_assertions) { "test" } else { "bench" }]);
        let out = cmd.stderr(Stdio::inherit()).output().expect("run cargo build --example batch");
        assert!(out.status.success(), "cargo build --example batch failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let exe = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "batch")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no executable for the batch example");
        assert!(exe.is_file(), "{} missing", exe.display());
        exe
    })
}

pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model_repository")
}

/// A fresh temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("clo-batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `n` small PNGs (the fixture photos resized to various small sizes) under `dir`, some in
/// subfolders; returns their paths as `batch` records them (folder input `dir`).
pub fn make_images(dir: &Path, n: usize) -> Vec<String> {
    let photos: Vec<image::DynamicImage> = ["coffee", "chelsea", "astronaut", "flat_grey"]
        .iter()
        .map(|s| {
            image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/images/{s}.png"))).unwrap()
        })
        .collect();
    (0..n)
        .map(|i| {
            let w = 48 + (i as u32 * 7) % 80;
            let h = 36 + (i as u32 * 11) % 60;
            let img = photos[i % photos.len()].resize_exact(w, h, image::imageops::FilterType::Triangle);
            let path = dir.join(format!("d{}", i % 3)).join(format!("img{i:03}.png"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            img.save(&path).unwrap();
            path.display().to_string()
        })
        .collect()
}

/// The `batch` command with the fixture repository, native stages (no build-time parity probes: fast) and
/// no progress bar.
pub fn batch(output: &Path) -> Command {
    let mut cmd = Command::new(batch_bin());
    cmd.arg("--repository")
        .arg(repository())
        .args(["--stage-mode", "native", "--threads", "2", "--progress", "never", "--output"])
        .arg(output)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("JOB_COMPLETIONS");
    cmd
}

/// Runs to completion; panics with stderr on failure; returns stderr.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "batch failed ({}):\n{stderr}", out.status);
    stderr
}

/// The `summary {...}` line `batch` prints to stderr.
pub fn summary(stderr: &str) -> serde_json::Value {
    let line = stderr.lines().find_map(|l| l.strip_prefix("summary ")).expect("no summary line");
    serde_json::from_str(line).unwrap()
}

/// Parses a JSONL output strictly: every line complete (the file ends with a newline) and a JSON object with
/// a `path`. Returns path → how many records have it, and the records.
pub fn read_records(path: &Path) -> (BTreeMap<String, usize>, Vec<serde_json::Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "torn last line in {}", path.display());
    let mut counts = BTreeMap::new();
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", i + 1));
        *counts.entry(v["path"].as_str().expect("record without path").to_string()).or_insert(0) += 1;
        records.push(v);
    }
    (counts, records)
}
