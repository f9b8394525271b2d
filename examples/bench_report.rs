//! Times the crate on one 3840 × 2160 frame against the Python baseline's JSON (scripts/python_baseline.py, run
//! on the same frame just before) and writes a Markdown section of ratios. Run by scripts/bench-report.sh.
//!
//! Usage: bench_report --repo DIR --frame PNG --baseline JSON --label TEXT --out FILE.md
//!                     [--intra N] [--inter N] [--runs N] [--warmup N] [--batch N]
//! Internal: bench_report --rss-probe THREADS --repo DIR --frame PNG [--intra N] [--inter N]
//!   prints the process's peak RSS (VmHWM, MB) after THREADS threads ran two native frames each at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clo_pipeline::image::{self, DynamicImage};
use clo_pipeline::{Inference, Pipeline, StageMode, StageTimings};

fn arg(args: &HashMap<String, String>, k: &str) -> String {
    args.get(k).cloned().unwrap_or_else(|| panic!("missing --{k}"))
}

fn num(args: &HashMap<String, String>, k: &str, d: usize) -> usize {
    args.get(k).map(|v| v.parse().expect("a number")).unwrap_or(d)
}

fn vm_hwm_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pipeline(args: &HashMap<String, String>, mode: StageMode, batch: usize) -> Pipeline {
    Pipeline::builder(arg(args, "repo"))
        .stage_mode(mode)
        .intra_threads(num(args, "intra", 0))
        .inter_threads(num(args, "inter", 0))
        .batch_threads(batch)
        .build()
        .expect("pipeline")
}

/// Median per-stage times (ms) over `runs` frames after `warmup`.
struct Stages {
    pre: f64,
    detect: f64,
    post: f64,
    estimate: f64,
    total: f64,
    overhead: f64,
}

fn time_stages(p: &Pipeline, f: &[u8], w: u32, h: u32, warmup: usize, runs: usize) -> Stages {
    let mut out = Inference::default();
    let mut all: Vec<StageTimings> = Vec::new();
    for i in 0..warmup + runs {
        p.infer_rgb8_into(f, w, h, &mut out).expect("infer");
        if i >= warmup {
            all.push(out.timings);
        }
    }
    let m = |g: &dyn Fn(&StageTimings) -> Duration| median(all.iter().map(|t| ms(g(t))).collect());
    Stages {
        pre: m(&|t| t.preprocess),
        detect: m(&|t| t.detect),
        post: m(&|t| t.postprocess),
        estimate: m(&|t| t.estimate),
        total: m(&|t| t.total),
        overhead: m(&|t| t.total.saturating_sub(t.detect + t.estimate)),
    }
}

fn rss_probe(args: &HashMap<String, String>, threads: usize) {
    let img = image::open(arg(args, "frame")).expect("frame").to_rgb8();
    let p = pipeline(args, StageMode::Native, 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..2 {
                    p.infer_rgb8(img.as_raw(), img.width(), img.height()).expect("infer");
                }
            });
        }
    });
    println!("{:.0}", vm_hwm_mb());
}

fn probe(threads: usize, args: &HashMap<String, String>) -> String {
    let exe = std::env::current_exe().expect("exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--rss-probe", &threads.to_string()]);
    for k in ["repo", "frame", "intra", "inter"] {
        if let Some(v) = args.get(k) {
            cmd.args([format!("--{k}"), v.clone()]);
        }
    }
    let out = cmd.output().expect("rss probe");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args: HashMap<String, String> =
        raw.chunks(2).filter_map(|c| Some((c[0].strip_prefix("--")?.to_string(), c.get(1)?.clone()))).collect();
    if let Some(t) = args.get("rss-probe") {
        return rss_probe(&args, t.parse().expect("threads"));
    }
    let (warmup, runs) = (num(&args, "warmup", 1), num(&args, "runs", 5));
    let batch = num(&args, "batch", 2);
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(arg(&args, "baseline")).expect("baseline json")).expect("json");
    let b = |k: &str| base["median_ms"][k].as_f64().unwrap_or(f64::NAN);

    // Decode, as the baseline does (PNG -> u8 RGB).
    let frame_path = arg(&args, "frame");
    let mut dec = Vec::new();
    let mut img = None;
    for _ in 0..warmup + runs {
        let t = Instant::now();
        let i = image::open(&frame_path).expect("frame").into_rgb8();
        dec.push(ms(t.elapsed()));
        img = Some(i);
    }
    let img = img.expect("a frame");
    let decode = median(dec.split_off(warmup));
    let (w, h) = img.dimensions();
    let f = img.as_raw();

    let native_p = pipeline(&args, StageMode::Native, batch);
    let native = time_stages(&native_p, f, w, h, warmup, runs);
    let model_p = pipeline(&args, StageMode::Model, 1);
    let model = time_stages(&model_p, f, w, h, warmup, runs);
    drop(model_p);

    // Throughput: N frames sequentially with infer vs infer_batch (batch_threads = `batch`).
    let frames: Vec<DynamicImage> = (0..2 * batch.max(1)).map(|_| DynamicImage::ImageRgb8(img.clone())).collect();
    for r in native_p.infer_batch(&frames) {
        r.expect("warm-up batch");
    }
    let t = Instant::now();
    for fr in &frames {
        native_p.infer(fr).expect("infer");
    }
    let seq_fps = frames.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for r in native_p.infer_batch(&frames) {
        r.expect("infer_batch");
    }
    let batch_fps = frames.len() as f64 / t.elapsed().as_secs_f64();
    drop(native_p);

    let rss1 = probe(1, &args);
    let rss_n = probe(batch, &args);

    let base_e2e = b("end_to_end_from_u8");
    let nets = native.detect + native.estimate;
    let mut md = String::new();
    let label = arg(&args, "label");
    md += &format!("## {label}\n\n");
    md += &format!(
        "Frame `{frame_path}` ({w}x{h}); medians over {runs} runs after {warmup} warm-up; intra-op threads {}, \
         inter-op threads {} (0 = ONNX Runtime's default) for the crate and the baseline alike.\n\n",
        num(&args, "intra", 0),
        num(&args, "inter", 0)
    );
    md += "| ratio | value | from (ms or frames/s) | target |\n|---|---|---|---|\n";
    let row = |md: &mut String, name: &str, a: f64, bv: f64, target: &str| {
        *md += &format!("| {name} | {:.3} | {a:.2} / {bv:.2} | {target} |\n", a / bv);
    };
    row(
        &mut md,
        "crate Native end-to-end ÷ baseline end-to-end (from the u8 frame)",
        native.total,
        base_e2e,
        "≤ 1/1.15 = 0.870",
    );
    row(&mut md, "crate Model end-to-end ÷ baseline end-to-end (from the u8 frame)", model.total, base_e2e, "");
    row(&mut md, "Native overhead (all but the two networks) ÷ network time", native.overhead, nets, "≤ 0.02");
    row(&mut md, "detector (crate, Native run) ÷ baseline yolov8", native.detect, b("yolov8"), "≤ 1.0");
    row(
        &mut md,
        "estimator (crate, Native run) ÷ baseline efficientnet_v2",
        native.estimate,
        b("efficientnet_v2"),
        "≤ 1.0",
    );
    row(&mut md, "letterbox Native ÷ Model (incl. building the f32 frame)", native.pre, model.pre, "");
    row(&mut md, "crop Native ÷ Model", native.post, model.post, "");
    row(&mut md, "end-to-end Native ÷ Model", native.total, model.total, "");
    row(&mut md, "decode: crate (image) ÷ baseline (PIL)", decode, b("decode"), "");
    md += &format!(
        "| `infer_batch` ({batch} threads) ÷ sequential `infer` throughput, {} frames | {:.3} | {batch_fps:.3} / {seq_fps:.3} fps | ≥ 1.0 |\n\n",
        frames.len(),
        batch_fps / seq_fps
    );
    md += "| stage (median ms) | crate Native | crate Model | Python baseline |\n|---|---|---|---|\n";
    md += &format!("| decode PNG | {decode:.2} | {decode:.2} | {:.2} |\n", b("decode"));
    md += &format!("| u8 frame → f32 [1,3,2160,3840] | — | (in letterbox) | {:.2} |\n", b("to_tensor"));
    md += &format!("| letterbox | {:.2} | {:.2} | {:.2} |\n", native.pre, model.pre, b("preprocessing"));
    md += &format!("| detector | {:.2} | {:.2} | {:.2} |\n", native.detect, model.detect, b("yolov8"));
    md += &format!("| crop | {:.2} | {:.2} | {:.2} |\n", native.post, model.post, b("postprocessing"));
    md += &format!("| estimator | {:.2} | {:.2} | {:.2} |\n", native.estimate, model.estimate, b("efficientnet_v2"));
    md += &format!("| end-to-end from the u8 frame | {:.2} | {:.2} | {:.2} |\n", native.total, model.total, base_e2e);
    md += &format!(
        "| overhead (end-to-end − the two networks) | {:.2} | {:.2} | {:.2} |\n\n",
        native.overhead,
        model.total - model.detect - model.estimate,
        base_e2e - b("yolov8") - b("efficientnet_v2")
    );
    md += &format!(
        "Peak RSS (VmHWM): crate, one Native pipeline, one thread: {rss1} MB; {batch} threads at once (one worker \
         each): {rss_n} MB; Python baseline process: {:.0} MB.\n\n",
        base["peak_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    std::fs::write(arg(&args, "out"), &md).expect("write");
    print!("{md}");
}
