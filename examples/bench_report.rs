//! Times the crate on one 3840 × 2160 frame against the Python baseline's JSON (scripts/python_baseline.py, run
//! on the same frame just before) and writes a Markdown section of ratios. Run by scripts/bench-report.sh.
//!
//! Usage: bench_report --repo DIR --frame PNG --baseline JSON --label TEXT --out FILE.md
//!                     [--intra N] [--inter N] [--runs N] [--warmup N] [--batch N]
//! Internal: bench_report --rss-probe THREADS --repo DIR --frame PNG [--intra N] [--inter N]
//!   prints the process's peak RSS (VmHWM, MB) after THREADS threads ran two native frames each at once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

use clo_pipeline::image::{self, DynamicImage};
use clo_pipeline::{Inference, Pipeline, StageMode, StageTimings};

/// The crate's half of scripts/bench-report.sh: times one 3840x2160 frame and writes a Markdown section of
/// ratios against the Python baseline's JSON.
#[derive(Parser, Debug)]
#[command(name = "bench_report")]
struct Args {
    /// The Triton model repository.
    #[arg(long, value_name = "DIR")]
    repo: PathBuf,
    /// The frame (PNG).
    #[arg(long, value_name = "PNG")]
    frame: PathBuf,
    /// The Python baseline's JSON (scripts/python_baseline.py).
    #[arg(long, value_name = "JSON", required_unless_present = "rss_probe")]
    baseline: Option<PathBuf>,
    /// The section's label.
    #[arg(long, value_name = "TEXT", required_unless_present = "rss_probe")]
    label: Option<String>,
    /// The Markdown file to write.
    #[arg(long, value_name = "FILE.md", required_unless_present = "rss_probe")]
    out: Option<PathBuf>,
    /// ONNX Runtime intra-op threads (0: its default).
    #[arg(long, value_name = "N", default_value_t = 0)]
    intra: usize,
    /// ONNX Runtime inter-op threads (0: its default).
    #[arg(long, value_name = "N", default_value_t = 0)]
    inter: usize,
    /// Timed frames.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Untimed frames first.
    #[arg(long, value_name = "N", default_value_t = 1)]
    warmup: usize,
    /// Frames per infer_batch call (and threads of the RSS probe).
    #[arg(long, value_name = "N", default_value_t = 2)]
    batch: usize,
    /// Internal: print the peak RSS (VmHWM, MB) after THREADS threads ran two native frames each at once.
    #[arg(long, value_name = "THREADS", hide = true)]
    rss_probe: Option<usize>,
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

fn pipeline(args: &Args, mode: StageMode, batch: usize) -> Pipeline {
    Pipeline::builder(&args.repo)
        .stage_mode(mode)
        .intra_threads(args.intra)
        .inter_threads(args.inter)
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

fn rss_probe(args: &Args, threads: usize) {
    let img = image::open(&args.frame).expect("frame").to_rgb8();
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

fn probe(threads: usize, args: &Args) -> String {
    let exe = std::env::current_exe().expect("exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--rss-probe", &threads.to_string()]);
    cmd.arg("--repo").arg(&args.repo).arg("--frame").arg(&args.frame);
    cmd.args(["--intra", &args.intra.to_string(), "--inter", &args.inter.to_string()]);
    let out = cmd.output().expect("rss probe");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    let args = Args::parse();
    if let Some(t) = args.rss_probe {
        return rss_probe(&args, t);
    }
    let (warmup, runs, batch) = (args.warmup, args.runs, args.batch);
    let baseline = args.baseline.as_ref().expect("clap requires --baseline");
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(baseline).expect("baseline json")).expect("json");
    let b = |k: &str| base["median_ms"][k].as_f64().unwrap_or(f64::NAN);

    // Decode, as the baseline does (PNG -> u8 RGB).
    let frame_path = args.frame.display().to_string();
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
    let label = args.label.clone().unwrap_or_default();
    md += &format!("## {label}\n\n");
    md += &format!(
        "Frame `{frame_path}` ({w}x{h}); medians over {runs} runs after {warmup} warm-up; intra-op threads {}, \
         inter-op threads {} (0 = ONNX Runtime's default) for the crate and the baseline alike.\n\n",
        args.intra, args.inter
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
    std::fs::write(args.out.as_ref().expect("clap requires --out"), &md).expect("write");
    print!("{md}");
}
