//! Many images in, one JSON line per image out: the CLO pipeline as a batch job.
//!
//! ```text
//! cargo run --release --example batch -- --output results.jsonl [OPTIONS] INPUT...
//! ```
//!
//! Each INPUT is a folder (walked recursively for `.jpg`, `.jpeg`, `.png`), a glob pattern (`'imgs/**/*.jpg'`),
//! `@LIST` (a file with one image path per line; `--list LIST` is the same), or one image file. Inputs are
//! sorted by path and de-duplicated.
//!
//! Output: one JSON record per line, in completion order (records carry their path, so the order does not
//! matter; sort by `path` if you need it). A success is the serialised [`clo_pipeline::Inference`] (detections,
//! best, oil_pct, crop_box, frame_size, modes, timings in ms) plus `path` and `decode_ms` (and `crop` with
//! `--save-crops`); a failure is `{"path": ..., "error": {"kind": ..., "message": ...}}` with `kind` one of
//! `read`, `empty`, `unsupported`, `decode`, `limits`, `image`, `pipeline`. One bad file never stops the run.
//!
//! Durability (`--resume`): a single writer thread appends each record as one `write_all` of a complete line
//! to a file opened with `O_APPEND`; once `write` returns, the line is in the kernel and survives the process
//! being killed at any moment (SIGKILL included). `sync_data` runs every 32 records and at the end, which
//! bounds what a machine crash can lose. A kill can at worst leave a torn last line (no trailing newline):
//! `--resume` truncates it, reads the paths already recorded, and processes only the rest, so a killed and
//! resumed run ends with exactly one record per input. Error records count as done (they would fail again).
//!
//! Sharding: `--shard I/N` keeps the inputs whose FNV-1a 64-bit hash of the relative path (relative to its
//! folder or glob base; a listed path as written) is `I` modulo `N`. The hash does not depend on the other
//! inputs, so adding files never moves existing ones between shards. On Kubernetes (Indexed Job),
//! `--shards N` (or the `JOB_COMPLETIONS` environment variable) takes `I` from `JOB_COMPLETION_INDEX`.
//! `{shard}` in `--output` is replaced by `I`.
//!
//! Decoding runs on its own threads (`--decoders`), feeding `--threads` inference workers that share one
//! `Arc<Pipeline>` through a bounded channel, so memory stays bounded whatever the number of inputs.
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

#[path = "support/mod.rs"]
mod support;

use clo_pipeline::{InputConvention, Pipeline, StageMode};
use serde_json::{Value, json};

/// The CLO pipeline over many images: one JSON line per image (or a typed error record).
#[derive(clap::Parser, Debug)]
#[command(
    name = "batch",
    args_override_self = true,
    version,
    after_help = "INPUT: a folder (recursive: .jpg .jpeg .png), a glob pattern, @LIST (one path per line), or an \
image file.\n\nEnvironment: JOB_COMPLETION_INDEX, JOB_COMPLETIONS (shard index and count), ORT_DYLIB_PATH (ONNX \
Runtime), RUST_LOG (log filter, default warn)."
)]
struct Args {
    /// Folders, glob patterns, @LIST files or image files.
    #[arg(value_name = "INPUT", required_unless_present = "list")]
    inputs: Vec<String>,
    /// JSONL output; `{shard}` is replaced by the shard index.
    #[arg(long, value_name = "FILE")]
    output: String,
    /// A list file, one image path per line (same as @FILE); repeatable.
    #[arg(long, value_name = "FILE")]
    list: Vec<String>,
    /// Continue FILE: skip inputs already recorded, truncate a torn last line.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start FILE over when it already has records.
    #[arg(long)]
    overwrite: bool,
    /// Process only shard I of N (stable hash of the relative path).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// N shards, the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    shards: Option<u64>,
    /// Inference workers sharing one pipeline (default: the CPU count).
    #[arg(long, value_name = "N", default_value_t = cores(), value_parser = positive)]
    threads: usize,
    /// Image decoding threads (default: --threads).
    #[arg(long, value_name = "N", value_parser = positive)]
    decoders: Option<usize>,
    /// Save each estimator crop as DIR/<relative path>.png.
    #[arg(long, value_name = "DIR")]
    save_crops: Option<PathBuf>,
    /// auto, model or native.
    #[arg(long, value_name = "MODE", default_value_t = StageMode::Auto)]
    stage_mode: StageMode,
    /// What the ensemble input holds for this deployment's clients: `auto` (settled from the repository's
    /// models), `rgb` (0..255), `rgb/255` ([0, 1]), `bgr`, `bgr/255`, or `rgb*SCALE+OFFSET`.
    #[arg(long, value_name = "ENCODING", default_value_t = InputConvention::Auto)]
    input_encoding: InputConvention,
    /// The Triton model repository.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "tests/fixtures/model_repository",
        visible_alias = "model-repository"
    )]
    repository: PathBuf,
    /// Progress bar: auto (on a terminal), always or never.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    progress: String,
}

const SYNC_EVERY: usize = 32;
const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_shard(v: &str) -> Result<(u64, u64), String> {
    let parsed = v.split_once('/').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        _ => Err(format!("takes I/N with 0 <= I < N, not {v:?}")),
    }
}

fn positive(v: &str) -> Result<usize, String> {
    v.parse::<usize>().ok().filter(|&n| n > 0).ok_or(format!("takes a positive integer, not {v:?}"))
}

/// Which shard this process runs: `--shard`, else `--shards`/`JOB_COMPLETIONS` with `JOB_COMPLETION_INDEX`.
fn resolve_shard(a: &Args) -> Result<Option<(u64, u64)>, String> {
    if a.shard.is_some() {
        return Ok(a.shard);
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let count = match (a.shards, env("JOB_COMPLETIONS")) {
        (Some(n), _) => Some(n),
        (None, Some(v)) => Some(positive(v.trim()).map_err(|e| format!("JOB_COMPLETIONS {e}"))? as u64),
        (None, None) => None,
    };
    match (count, env("JOB_COMPLETION_INDEX")) {
        (None, None) => Ok(None),
        (Some(_), None) => Err("--shards (or JOB_COMPLETIONS) needs JOB_COMPLETION_INDEX in the environment".into()),
        (None, Some(_)) => Err("JOB_COMPLETION_INDEX is set but the shard count is not: pass --shards N".into()),
        (Some(n), Some(i)) => match i.trim().parse::<u64>() {
            Ok(i) if i < n => Ok(Some((i, n))),
            _ => Err(format!("JOB_COMPLETION_INDEX={i:?} is not an index below {n}")),
        },
    }
}

/// One image to process: the path it is opened by (and recorded as), and its path relative to its input.
#[derive(Clone, Debug)]
struct Item {
    path: String,
    rel: String,
}

fn has_image_extension(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn rel_string(p: &Path) -> String {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Expands the inputs into a sorted, de-duplicated list. A missing input is an error (before any work).
fn discover(inputs: &[String]) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for input in inputs {
        if let Some(list) = input.strip_prefix('@') {
            let text = std::fs::read_to_string(list).map_err(|e| format!("list file {list}: {e}"))?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                items.push(Item { path: line.to_string(), rel: rel_string(Path::new(line)) });
            }
        } else if Path::new(input).is_dir() {
            for entry in walkdir::WalkDir::new(input).follow_links(true) {
                let entry = entry.map_err(|e| format!("walking {input}: {e}"))?;
                if entry.file_type().is_file() && has_image_extension(entry.path()) {
                    let rel = entry.path().strip_prefix(input).unwrap_or(entry.path());
                    items.push(Item { path: entry.path().display().to_string(), rel: rel_string(rel) });
                }
            }
        } else if input.contains(['*', '?', '[']) {
            let base: PathBuf = Path::new(input)
                .components()
                .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
                .collect();
            let paths = glob::glob(input).map_err(|e| format!("glob {input:?}: {e}"))?;
            for p in paths {
                let p = p.map_err(|e| format!("glob {input:?}: {e}"))?;
                if p.is_file() {
                    let rel = p.strip_prefix(&base).unwrap_or(&p);
                    items.push(Item { path: p.display().to_string(), rel: rel_string(rel) });
                }
            }
        } else if Path::new(input).is_file() {
            items.push(Item { path: input.clone(), rel: rel_string(Path::new(input)) });
        } else {
            return Err(format!("input {input}: no such file, folder or matching pattern"));
        }
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    items.dedup_by(|a, b| a.path == b.path);
    Ok(items)
}

/// FNV-1a, 64 bits: a hash that is the same on every machine and Rust version.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Opens the output for appending, creating its folder; with `resume`, truncates a torn last line and returns
/// the paths already recorded. Fails before any work when the file cannot be written.
fn open_output(path: &Path, resume: bool, overwrite: bool) -> Result<(File, HashSet<String>), String> {
    let ctx = |e: std::io::Error| format!("output {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("output folder {}: {e}", dir.display()))?;
    }
    let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(ctx)?;
    let mut text = Vec::new();
    file.read_to_end(&mut text).map_err(ctx)?;
    let mut done = HashSet::new();
    if text.is_empty() {
        return Ok((file, done));
    }
    if overwrite {
        file.set_len(0).map_err(ctx)?;
        return Ok((file, done));
    }
    if !resume {
        return Err(format!(
            "output {} already has records: pass --resume to continue it, or --overwrite to start over",
            path.display()
        ));
    }
    let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if keep < text.len() {
        eprintln!(
            "batch: {}: dropping a torn last line ({} bytes) left by an interrupted run",
            path.display(),
            text.len() - keep
        );
        file.set_len(keep as u64).map_err(ctx)?;
        file.sync_data().map_err(ctx)?;
    }
    for (n, line) in text[..keep].split(|&b| b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        let record: Value = serde_json::from_slice(line).map_err(|e| {
            format!("output {} line {}: not a JSON record ({e}); not resuming over it", path.display(), n + 1)
        })?;
        let p = record["path"].as_str().ok_or(format!(
            "output {} line {}: record without a \"path\"",
            path.display(),
            n + 1
        ))?;
        done.insert(p.to_string());
    }
    file.seek(SeekFrom::End(0)).map_err(ctx)?;
    Ok((file, done))
}

/// Creates the crops folder and proves it writable (before any work).
fn check_crops_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--save-crops {}: {e}", dir.display()))?;
    let probe = dir.join(format!(".batch-probe-{}", std::process::id()));
    File::create(&probe).map_err(|e| format!("--save-crops {}: not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Where an input's crop goes: its relative path (only plain components: no `..`, no root) + `.png`.
fn crop_path(dir: &Path, rel: &str) -> PathBuf {
    let name = if rel.is_empty() { "unnamed".to_string() } else { rel.to_string() };
    dir.join(format!("{name}.png"))
}

struct Decoded {
    item: Item,
    image: Result<image::DynamicImage, (&'static str, String)>,
    decode_ms: f64,
}

fn decode(path: &str) -> Result<image::DynamicImage, (&'static str, String)> {
    let bytes = std::fs::read(path).map_err(|e| ("read", e.to_string()))?;
    if bytes.is_empty() {
        return Err(("empty", "the file is empty".into()));
    }
    // The library's decoder: the format from the content (a PNG named .jpg decodes), its limits against
    // decompression bombs checked from the header.
    clo_pipeline::decode_image_bytes(&bytes, &clo_pipeline::DecodeOptions::default()).map_err(|e| {
        let kind = match &e {
            clo_pipeline::Error::Image { source: None, .. } => "unsupported",
            clo_pipeline::Error::Image { source: Some(s), .. } => match s {
                image::ImageError::Unsupported(_) => "unsupported",
                image::ImageError::Decoding(_) | image::ImageError::IoError(_) => "decode",
                image::ImageError::Limits(_) => "limits",
                _ => "image",
            },
            _ => "image",
        };
        (kind, e.to_string())
    })
}

/// What a worker hands the writer: the record line and, for successes, the latency to summarise.
struct Done {
    line: String,
    infer_ms: Option<f64>,
    /// The detector's output was degenerate (`Inference::degenerate`): the record has `degenerate` set.
    degenerate: bool,
}

fn error_record(path: &str, kind: &str, message: &str) -> String {
    json!({"path": path, "error": {"kind": kind, "message": message}}).to_string()
}

fn infer_one(pipeline: &Pipeline, d: Decoded, crops: Option<&Path>) -> Done {
    let image = match d.image {
        Ok(img) => img,
        Err((kind, msg)) => {
            return Done { line: error_record(&d.item.path, kind, &msg), infer_ms: None, degenerate: false };
        }
    };
    match pipeline.infer(&image) {
        Err(e) => {
            Done { line: error_record(&d.item.path, "pipeline", &e.to_string()), infer_ms: None, degenerate: false }
        }
        Ok(out) => {
            let mut v = serde_json::to_value(&out).unwrap_or_else(|e| json!({"serialise_error": e.to_string()}));
            v["path"] = Value::from(d.item.path.as_str());
            v["decode_ms"] = Value::from(d.decode_ms);
            if let Some(dir) = crops {
                let target = crop_path(dir, &d.item.rel);
                let saved =
                    target.parent().map_or(Ok(()), std::fs::create_dir_all).map_err(|e| e.to_string()).and_then(|()| {
                        out.crop_image(pipeline.geometry().scale).save(&target).map_err(|e| e.to_string())
                    });
                match saved {
                    Ok(()) => v["crop"] = Value::from(target.display().to_string()),
                    Err(e) => v["crop_error"] = Value::from(format!("{}: {e}", target.display())),
                }
            }
            Done {
                line: v.to_string(),
                infer_ms: Some(out.timings.total.as_secs_f64() * 1e3),
                degenerate: out.degenerate.is_some(),
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run(args: Args) -> Result<(), String> {
    let shard = resolve_shard(&args)?;
    let output = PathBuf::from(args.output.replace("{shard}", &shard.map_or(0, |s| s.0).to_string()));
    // Everything that can fail on the user's setup fails here, before the pipeline is built.
    let (mut out, done) = open_output(&output, args.resume, args.overwrite)?;
    if let Some(dir) = &args.save_crops {
        check_crops_dir(dir)?;
    }
    let all = discover(&args.inputs)?;
    let found = all.len();
    let in_shard: Vec<Item> = match shard {
        Some((i, n)) => all.into_iter().filter(|it| fnv1a(&it.rel) % n == i).collect(),
        None => all,
    };
    let shard_len = in_shard.len();
    let todo: Vec<Item> = in_shard.into_iter().filter(|it| !done.contains(&it.path)).collect();
    let skipped = shard_len - todo.len();

    let shard_text = shard.map_or("all".to_string(), |(i, n)| format!("{i}/{n}"));
    if todo.is_empty() {
        eprintln!("batch: nothing to do: {shard_len} inputs in this shard, all already in {}", output.display());
        eprintln!(
            "summary {}",
            json!({"found": found, "shard": shard_text, "in_shard": shard_len, "skipped": skipped, "processed": 0,
            "ok": 0, "errors": 0, "output": output.display().to_string()})
        );
        return Ok(());
    }
    let threads = args.threads;
    let decoders = args.decoders.unwrap_or(threads);
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let t_build = Instant::now();
    let pipeline = Arc::new(
        Pipeline::builder(&args.repository)
            .stage_mode(args.stage_mode)
            .input_convention(args.input_encoding)
            .intra_threads((cores / threads).max(1))
            .build()
            .map_err(|e| e.to_string())?,
    );
    let build_s = t_build.elapsed().as_secs_f64();
    eprintln!(
        "batch: pipeline over {}:\n  {}",
        args.repository.display(),
        support::indent(&pipeline.report().to_string(), "  ")
    );

    let show = match args.progress.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stderr().is_terminal(),
    };
    let bar = if show {
        let bar = indicatif::ProgressBar::new(todo.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let t0 = Instant::now();
    let todo = Arc::new(todo);
    let next = Arc::new(AtomicUsize::new(0));
    let (img_tx, img_rx) = sync_channel::<Decoded>(2 * threads);
    let img_rx = Arc::new(Mutex::new(img_rx));
    let (done_tx, done_rx) = sync_channel::<Done>(2 * threads);
    let mut handles = Vec::new();
    for _ in 0..decoders {
        let (todo, next, tx) = (Arc::clone(&todo), Arc::clone(&next), img_tx.clone());
        handles.push(thread::spawn(move || decode_loop(&todo, &next, &tx)));
    }
    drop(img_tx);
    for _ in 0..threads {
        let (pipeline, rx, tx) = (Arc::clone(&pipeline), Arc::clone(&img_rx), done_tx.clone());
        let crops = args.save_crops.clone();
        handles.push(thread::spawn(move || infer_loop(&pipeline, &rx, &tx, crops.as_deref())));
    }
    drop(done_tx);

    let (mut ok, mut errors, mut since_sync, mut degenerate) = (0usize, 0usize, 0usize, 0usize);
    let mut latencies = Vec::new();
    let ctx = |e: std::io::Error| format!("writing {}: {e}", output.display());
    for d in done_rx {
        let mut line = d.line.into_bytes();
        line.push(b'\n');
        out.write_all(&line).map_err(ctx)?; // one write of a whole line, O_APPEND: never interleaved
        since_sync += 1;
        if since_sync >= SYNC_EVERY {
            out.sync_data().map_err(ctx)?;
            since_sync = 0;
        }
        match d.infer_ms {
            Some(ms) => {
                ok += 1;
                latencies.push(ms);
            }
            None => errors += 1,
        }
        degenerate += usize::from(d.degenerate);
        bar.inc(1);
    }
    out.flush().map_err(ctx)?;
    out.sync_data().map_err(ctx)?;
    bar.finish_and_clear();
    for h in handles {
        h.join().map_err(|_| "a worker thread panicked".to_string())?;
    }
    let wall = t0.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let processed = ok + errors;
    let fps = if wall > 0.0 { processed as f64 / wall } else { 0.0 };
    let (p50, p95) = (percentile(&latencies, 50.0), percentile(&latencies, 95.0));
    eprintln!(
        "batch: {found} inputs, shard {shard_text}: {shard_len}; skipped by resume {skipped}; processed {processed} \
         ({ok} ok, {errors} errors) in {wall:.2} s = {fps:.1} frames/s; inference latency p50 {p50:.2} ms, \
         p95 {p95:.2} ms; pipeline built in {build_s:.2} s; {threads} workers, {decoders} decoders; -> {}",
        output.display()
    );
    if degenerate > 0 {
        eprintln!(
            "batch: WARNING: {degenerate} of {ok} frames had a degenerate detector output (`degenerate` in their \
             records): the detector's input is probably not what it expects; check --input-encoding and the \
             pipeline report above"
        );
    }
    let summary = json!({
        "found": found, "shard": shard_text, "in_shard": shard_len, "skipped": skipped, "processed": processed,
        "ok": ok, "errors": errors, "degenerate": degenerate, "wall_s": wall, "frames_per_s": fps, "p50_ms": p50, "p95_ms": p95,
        "build_s": build_s, "output": output.display().to_string(),
    });
    eprintln!("summary {summary}");
    Ok(())
}

fn decode_loop(todo: &[Item], next: &AtomicUsize, tx: &SyncSender<Decoded>) {
    loop {
        let Some(item) = todo.get(next.fetch_add(1, Ordering::Relaxed)) else { return };
        let t = Instant::now();
        let image = decode(&item.path);
        let decoded = Decoded { item: item.clone(), image, decode_ms: t.elapsed().as_secs_f64() * 1e3 };
        if tx.send(decoded).is_err() {
            return;
        }
    }
}

fn infer_loop(pipeline: &Pipeline, rx: &Mutex<Receiver<Decoded>>, tx: &SyncSender<Done>, crops: Option<&Path>) {
    loop {
        // Hold the lock only to receive, not while inferring.
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(decoded) = next else { return };
        if tx.send(infer_one(pipeline, decoded, crops)).is_err() {
            return;
        }
    }
}

fn main() -> ExitCode {
    support::init_tracing();
    let mut args = <Args as clap::Parser>::parse();
    args.inputs.extend(args.list.iter().map(|l| format!("@{l}")));
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("batch: error: {e}");
            ExitCode::FAILURE
        }
    }
}
