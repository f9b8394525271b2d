//! `batch` and `serve` on the fixture repository of each input convention (clients sending raw RGB, RGB/255,
//! BGR): they settle the convention from the repository, say so, and give exactly the library's results; a
//! wrong explicit encoding is reported and its frames are counted as degenerate.
#![cfg(feature = "serde")]

use std::path::Path;

use clo_pipeline::{Pipeline, StageMode};

use crate::batch_common::{TempDir, batch, read_records, run_ok, summary};
use crate::common::{CONVENTIONS, fixtures, image_path};
use crate::serve_common::Server;

const PHOTOS: [&str; 3] = ["coffee.png", "chelsea.png", "astronaut.png"];

/// The fixture photographs in a folder of their own.
fn photos(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for p in PHOTOS {
        std::fs::copy(image_path(p), dir.join(p)).unwrap();
    }
}

/// The library's oil % for each photo, with the same settings the binaries use (Auto everything).
fn library_oil(repo: &Path, mode: StageMode) -> Vec<f32> {
    let p = Pipeline::builder(repo).stage_mode(mode).build().unwrap();
    PHOTOS.iter().map(|f| p.infer(&image::open(image_path(f)).unwrap()).unwrap().oil_pct).collect()
}

#[test]
fn batch_settles_each_convention_and_gives_the_librarys_results() {
    let tmp = TempDir::new("conventions");
    let input = tmp.path().join("in");
    photos(&input);
    for (repo, encoding, _) in CONVENTIONS {
        let path = fixtures().join(repo);
        let want = library_oil(&path, StageMode::Model);
        let out = tmp.path().join(format!("{repo}.jsonl"));
        let stderr = run_ok(batch(&out).arg("--repository").arg(&path).args(["--stage-mode", "model"]).arg(&input));
        assert!(stderr.contains(&format!("input        {encoding} (asked: auto")), "{repo}:\n{stderr}");
        assert_eq!(summary(&stderr)["degenerate"], 0, "{repo}:\n{stderr}");
        let (_, records) = read_records(&out);
        for (f, want) in PHOTOS.iter().zip(&want) {
            let r = records.iter().find(|r| r["path"].as_str().unwrap().ends_with(f)).unwrap();
            let got = r["oil_pct"].as_f64().unwrap() as f32;
            assert_eq!(got.to_bits(), want.to_bits(), "{repo} {f}: batch {got} vs library {want}");
            assert!(r["degenerate"].is_null(), "{repo} {f}: {r}");
        }
    }
}

#[test]
fn batch_counts_the_frames_of_a_wrong_explicit_encoding_as_degenerate() {
    let tmp = TempDir::new("wrong-encoding");
    let input = tmp.path().join("in");
    photos(&input);
    let out = tmp.path().join("wrong.jsonl");
    let stderr = run_ok(
        batch(&out)
            .arg("--repository")
            .arg(fixtures().join("model_repository_unit"))
            .args(["--stage-mode", "model", "--input-encoding", "rgb"])
            .arg(&input),
    );
    assert!(stderr.contains("probably send rgb/255"), "{stderr}");
    assert!(stderr.contains("degenerate detector output"), "{stderr}");
    assert_eq!(summary(&stderr)["degenerate"], PHOTOS.len(), "{stderr}");
    let (_, records) = read_records(&out);
    assert!(records.iter().all(|r| r["degenerate"]["kind"].is_string()), "{records:?}");
}

#[test]
fn serve_settles_each_convention_and_its_image_route_gives_the_librarys_results() {
    for (repo, encoding, _) in CONVENTIONS {
        let path = fixtures().join(repo);
        let want = library_oil(&path, StageMode::Auto);
        let server = Server::start(&["--model-repository", path.to_str().unwrap()], &[]);
        for (f, want) in PHOTOS.iter().zip(&want) {
            let r = server.post("/v1/clo/infer", &[], &std::fs::read(image_path(f)).unwrap());
            assert_eq!(r.status, 200, "{repo} {f}: {}", String::from_utf8_lossy(&r.body));
            let got = r.json()["oil_pct"].as_f64().unwrap() as f32;
            assert_eq!(got.to_bits(), want.to_bits(), "{repo} {f}: serve {got} vs library {want}");
        }
        let metrics = String::from_utf8(server.get("/metrics").body).unwrap();
        assert!(metrics.contains("clo_serve_degenerate_frames_total 0"), "{repo}:\n{metrics}");
        let log = server.stderr();
        assert!(log.contains(&format!("input        {encoding} (asked: auto")), "{repo}:\n{log}");
    }
}
