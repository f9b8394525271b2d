//! Shared helpers for the integration tests: fixture paths, golden files, temporary repository copies.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn repository() -> PathBuf {
    fixtures().join("model_repository")
}

pub fn image_path(name: &str) -> PathBuf {
    fixtures().join("images").join(name)
}

/// The photographs and the synthetic no-detection frame that have golden outputs.
pub const IMAGES: [&str; 4] = ["coffee", "chelsea", "astronaut", "flat_grey"];

/// The fixture repositories of the three input conventions: (folder, what their clients send, the goldens'
/// folder). `scripts/make_fixtures.py` writes them (`tests/fixtures/README.md`).
pub const CONVENTIONS: [(&str, clo_pipeline::InputEncoding, &str); 3] = [
    ("model_repository", clo_pipeline::InputEncoding::RGB, "expected"),
    ("model_repository_unit", clo_pipeline::InputEncoding::RGB_UNIT, "expected_unit"),
    ("model_repository_bgr", clo_pipeline::InputEncoding::BGR, "expected_bgr"),
];

/// Goldens of any convention repository: the raw repository's `expected/<stem>.json` (full crop, and the
/// Native-mode goldens under `native`) or `expected_<convention>/<stem>.json` (crop as `crop_stats`).
pub struct Golden {
    pub json: serde_json::Value,
}

impl Golden {
    /// The raw repository's golden of `stem`.
    pub fn load(stem: &str) -> Golden {
        Golden::load_in("expected", stem)
    }

    /// The golden of `stem` in the goldens' folder `expected`.
    pub fn load_in(expected: &str, stem: &str) -> Golden {
        let p = fixtures().join(expected).join(format!("{stem}.json"));
        Golden { json: serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap() }
    }
    pub fn detections(&self) -> Vec<f32> {
        floats(&self.json["yolo_detections"])
    }
    pub fn oil(&self) -> f32 {
        self.json["estimated_oil_pct"].as_f64().unwrap() as f32
    }
    pub fn best_row(&self) -> Option<usize> {
        self.json["best_row"].as_u64().map(|v| v as usize)
    }
    /// Checks `crop` ([1,3,S,S]) against the golden crop: every value for the raw repository, else the
    /// channel means and the 25x25 subsample per channel.
    #[track_caller]
    pub fn assert_crop(&self, what: &str, crop: &[f32], tol: Tol) {
        if let Some(file) = self.json["crop_file"].as_str() {
            let bytes = std::fs::read(fixtures().join("expected").join(file)).unwrap();
            let want: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            return assert_close(what, crop, &want, tol);
        }
        let stats = &self.json["crop_stats"];
        let s = (crop.len() / 3).isqrt();
        let idx: Vec<usize> =
            stats["subsample_index"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let mut got = Vec::new();
        for c in 0..3 {
            for &i in &idx {
                for &j in &idx {
                    got.push(crop[(c * s + i) * s + j]);
                }
            }
        }
        assert_close(&format!("{what} (subsample)"), &got, &floats(&stats["subsample"]), tol);
        for (c, m) in floats(&stats["mean"]).iter().enumerate() {
            let plane = &crop[c * s * s..(c + 1) * s * s];
            let mean = (plane.iter().map(|&v| f64::from(v)).sum::<f64>() / plane.len() as f64) as f32;
            assert_close1(&format!("{what} channel {c} mean"), mean, *m, tol);
        }
    }
}

/// Flattens nested JSON arrays of numbers.
pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(floats).collect(),
        serde_json::Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

/// A tolerance `|got - want| <= abs + rel * |want|` (numpy's `isclose` rule), for comparisons with outputs made
/// by ONNX Runtime on another CPU. docs/tolerances.md says how each one below was derived from what
/// `scripts/cpu-variance.sh` measured across instruction sets.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    pub abs: f32,
    pub rel: f32,
}

impl Tol {
    /// The largest difference allowed from `want`.
    pub fn bound(&self, want: f32) -> f32 {
        self.abs + self.rel * want.abs()
    }
}

impl std::fmt::Display for Tol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:e} + {:e} x |expected|", self.abs, self.rel)
    }
}

/// Detection rows (letterbox pixels up to 640, scores 0..1) against Python onnxruntime's: measured up to 3.1e-7
/// relative (6.1e-5 px) across x86-64 (AVX to AVX-512) and aarch64 kernels; 30x that.
pub const DETECTIONS_TOL: Tol = Tol { abs: 1e-6, rel: 1e-5 };
/// The 384x384 crop (0..1) against Python onnxruntime's: bit-identical across x86-64 kinds, up to 2.4e-5 on
/// aarch64 (its compiler fuses multiply-adds in the Resize kernel); 4x that, the parity tolerance.
pub const CROP_TOL: Tol = Tol { abs: 1e-4, rel: 0.0 };
/// The oil percentage against Python onnxruntime's: measured up to 7.2e-6 relative (2.2e-4 at 30.8 %) across
/// x86-64 and aarch64 kernels; 14x that.
pub const OIL_TOL: Tol = Tol { abs: 1e-5, rel: 1e-4 };

/// Asserts that every element of `got` is within `tol` of `want`; the message names the element, both values,
/// their difference and the tolerance.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: Tol) {
    assert_eq!(got.len(), want.len(), "{what}: {} values, expected {}", got.len(), want.len());
    let worst = got.iter().zip(want).enumerate().map(|(i, (&g, &w))| (i, g, w, (g - w).abs() - tol.bound(w))).fold(
        None::<(usize, f32, f32, f32)>,
        |m, e| match m {
            Some(m) if !(e.3 > m.3 || e.3.is_nan()) => Some(m),
            _ => Some(e),
        },
    );
    if let Some((i, g, w, excess)) = worst {
        assert!(
            excess <= 0.0,
            "{what}: element {i} of {}: got {g}, expected {w}, |difference| {} exceeds the tolerance {} (= {tol})",
            got.len(),
            (g - w).abs(),
            tol.bound(w)
        );
    }
}

/// [`assert_close`] for one value.
#[track_caller]
pub fn assert_close1(what: &str, got: f32, want: f32, tol: Tol) {
    assert!(
        (got - want).abs() <= tol.bound(want),
        "{what}: got {got}, expected {want}, |difference| {} exceeds the tolerance {} (= {tol})",
        (got - want).abs(),
        tol.bound(want)
    );
}

/// Says on the test process's real stderr (not libtest's captured output, so it shows for a passing test) that
/// a test skipped its checks, and why.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A decoded fixture photograph as RGB8.
pub fn rgb(stem: &str) -> image::RgbImage {
    image::open(image_path(&format!("{stem}.png"))).unwrap().to_rgb8()
}

/// The ensemble's input tensor for a frame, made as the goldens' generator made it (raw RGB 0..255).
pub fn model_input(img: &image::RgbImage) -> ndarray::ArrayD<f32> {
    model_input_in(img, &clo_pipeline::InputEncoding::RGB)
}

/// The ensemble's input tensor for a frame as a client of `encoding` sends it.
pub fn model_input_in(img: &image::RgbImage, encoding: &clo_pipeline::InputEncoding) -> ndarray::ArrayD<f32> {
    let mut data = vec![0f32; 3 * 2160 * 3840];
    clo_pipeline::stages::resize::cpu::resize_to_nchw(
        img.as_raw(),
        img.width(),
        img.height(),
        3840,
        2160,
        encoding,
        &mut data,
    )
    .unwrap();
    ndarray::ArrayD::from_shape_vec(vec![1, 3, 2160, 3840], data).unwrap()
}

/// A fresh temporary copy of the fixture repository, removed on drop.
pub struct TempRepo {
    pub path: PathBuf,
}

impl TempRepo {
    pub fn new() -> TempRepo {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path =
            std::env::temp_dir().join(format!("clo-repo-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&path);
        copy_dir(&repository(), &path);
        TempRepo { path }
    }

    pub fn config(&self, model: &str) -> PathBuf {
        self.path.join(model).join("config.pbtxt")
    }

    /// Replaces `from` by `to` in a model's config (the text must be there).
    pub fn edit(&self, model: &str, from: &str, to: &str) {
        let p = self.config(model);
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.contains(from), "{from:?} not in {}", p.display());
        std::fs::write(&p, s.replacen(from, to, 1)).unwrap();
    }
}

impl Drop for TempRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
