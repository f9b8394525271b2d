//! The stock Python `tritonclient[http]` (installed by `scripts/setup.sh --dev`) against a real
//! `examples/serve` process on 127.0.0.1: metadata, a binary and a JSON infer with outputs equal, bit for bit,
//! to the library's own `run_ensemble` on the same frame, and the v2 errors (see
//! tests/clients/triton_http_client.py). The oversized-body 413 is sent here, with a raw socket.
#![cfg(feature = "serde")]

use crate::serve_common;

use std::collections::BTreeMap;
use std::process::Command;

use clo_pipeline::ndarray::ArrayD;
use clo_pipeline::repository::Repository;
use clo_pipeline::{Pipeline, StageMode, Tensor};
use serve_common::{Server, python, repository, root};

const TOKEN: &str = "serve-test-token";

/// The 3840x2160 frame as the ensemble's FP32 NCHW input: coffee.png sampled nearest-neighbour, so every
/// value is an integer 0..255 (short JSON text).
fn frame() -> ArrayD<f32> {
    let img = image::open(root().join("tests/fixtures/images/coffee.png")).unwrap().to_rgb8();
    let (w, h) = (3840usize, 2160usize);
    let mut a = ArrayD::<f32>::zeros(vec![1, 3, h, w]);
    for y in 0..h {
        let sy = (y * img.height() as usize / h) as u32;
        for x in 0..w {
            let p = img.get_pixel((x * img.width() as usize / w) as u32, sy);
            for c in 0..3 {
                a[[0, c, y, x]] = p[c] as f32;
            }
        }
    }
    a
}

fn f32le(a: &ArrayD<f32>) -> Vec<u8> {
    a.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// What the metadata must say, straight from the repository's configs.
fn metadata() -> serde_json::Value {
    let repo = Repository::open(repository()).unwrap();
    let mut models = BTreeMap::new();
    let mut ensemble = String::new();
    let mut step = String::new();
    for m in repo.models() {
        let c = &m.config;
        let t = |t: &clo_pipeline::repository::TensorConfig| serde_json::json!({"name": t.name, "datatype": t.data_type.kserve_name(), "shape": t.client_shape(c.max_batch_size)});
        if m.is_ensemble() {
            ensemble = c.name.clone();
        } else {
            step = c.name.clone();
        }
        models.insert(
            c.name.clone(),
            serde_json::json!({
                "name": c.name,
                "versions": m.served_versions().iter().map(|v| v.to_string()).collect::<Vec<_>>(),
                "platform": if c.platform.is_empty() { &c.backend } else { &c.platform },
                "inputs": c.inputs.iter().map(t).collect::<Vec<_>>(),
                "outputs": c.outputs.iter().map(t).collect::<Vec<_>>(),
            }),
        );
    }
    assert_eq!(models.len(), 5);
    serde_json::json!({ "ensemble": ensemble, "step": step, "models": models })
}

#[test]
fn tritonclient_metadata_infer_and_errors() {
    let py = python();
    let dir = std::env::temp_dir().join(format!("clo-serve-tritonclient-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The library's outputs on the frame, in-process.
    let input = frame();
    std::fs::write(dir.join("input.f32le"), f32le(&input)).unwrap();
    let pipeline = Pipeline::builder(repository()).stage_mode(StageMode::Model).build().unwrap();
    let outputs = pipeline.run_ensemble([("original_image_3840_2160", Tensor::F32(input))]).unwrap();
    drop(pipeline);
    assert_eq!(outputs.len(), 3);
    for (name, t) in &outputs {
        std::fs::write(dir.join(format!("expected.{name}.f32le")), f32le(t.as_f32().unwrap())).unwrap();
    }
    std::fs::write(dir.join("metadata.json"), metadata().to_string()).unwrap();

    let server = Server::start(&["--stage-mode", "model", "--max-concurrency", "2"], &[("CLO_SERVE_TOKEN", TOKEN)]);
    let out = Command::new(py)
        .arg(root().join("tests/clients/triton_http_client.py"))
        .args([&server.addr, TOKEN, dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the tritonclient script failed: {}", String::from_utf8_lossy(&out.stderr));
    let checks: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = checks.iter().map(|c| c["check"].as_str().unwrap()).collect();
    for want in [
        "metadata",
        "binary infer",
        "json infer",
        "unknown model",
        "wrong shape",
        "wrong datatype",
        "missing token",
        "done",
    ] {
        assert!(names.contains(&want), "check `{want}` did not run: {names:?}");
    }

    // Oversized bodies: a declared Content-Length over --max-body-bytes (default 256 MiB) is refused before
    // any byte of the body is read.
    let auth = format!("Bearer {TOKEN}");
    let r = server.post(
        "/v2/models/ensemble/infer",
        &[("Authorization", &auth), ("Content-Length", &(257u64 << 20).to_string())],
        b"",
    );
    assert!(r.v2_error(413).contains("--max-body-bytes"));

    // The metrics saw it all.
    let m = server.post("/metrics", &[("Authorization", &auth)], b"");
    assert_eq!(m.status, 405, "metrics is GET only");
    let m = serve_common::request(&server.addr, "GET", "/metrics", &[("Authorization", &auth)], b"");
    let text = String::from_utf8(m.body).unwrap();
    for want in [
        "clo_serve_requests_total{route=\"/v2/models/{name}/infer\",status=\"200\"} 3",
        "clo_serve_requests_total{route=\"/v2/models/{name}/infer\",status=\"413\"} 1",
        "clo_serve_stage_duration_seconds_count{stage=\"ensemble\"} 3",
        "clo_serve_inferences_in_flight 0",
    ] {
        assert!(text.contains(want), "metrics lack `{want}`:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
