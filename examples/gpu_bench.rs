//! GPU benchmark: per-stage and end-to-end times (CUDA events), native kernels vs the repository's ONNX
//! pre/post models on the GPU, upload bandwidth achieved vs a plain pinned memcpy, and frames per second
//! with 1 and N frames in flight.
//!
//! ```text
//! cargo run --release --example gpu_bench -- [--repository DIR] [--frames N] [--in-flight N] [--image FILE]
//! ```
//!
//! Without a usable GPU it prints why (the device probes) and exits 0. The frame is the image (default
//! `tests/fixtures/images/coffee.png`) resized to 3840 × 2160, the size the guide's cameras send.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clo_pipeline::{Device, Pipeline, StageMode};
use cudarc::driver::{CudaContext, sys};

/// On a GPU: per-stage CUDA-event times, native kernels vs the ONNX pre/post models, upload bandwidth, FPS.
#[derive(clap::Parser, Debug)]
#[command(name = "gpu_bench")]
struct Args {
    /// The Triton model repository.
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/model_repository"))]
    repository: PathBuf,
    /// The image, resized to 3840x2160.
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images/coffee.png"))]
    image: PathBuf,
    /// Frames per measurement.
    #[arg(long, value_name = "N", default_value_t = 200)]
    frames: usize,
    /// Frames in flight for the throughput measurement.
    #[arg(long, value_name = "N", default_value_t = 4)]
    in_flight: usize,
}

fn args() -> Args {
    <Args as clap::Parser>::parse()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Pinned host → device peak: one 256 MiB pinned buffer copied 10 times, timed with CUDA events.
fn pinned_peak_gbps(ordinal: usize) -> Result<f64, String> {
    let ctx = CudaContext::new(ordinal).map_err(|e| format!("{e:?}"))?;
    let stream = ctx.new_stream().map_err(|e| format!("{e:?}"))?;
    let n = 256 << 20;
    // SAFETY: the pinned buffer's contents do not matter for a bandwidth measurement.
    let host = unsafe { ctx.alloc_pinned::<u8>(n) }.map_err(|e| format!("{e:?}"))?;
    let mut dev = stream.alloc_zeros::<u8>(n).map_err(|e| format!("{e:?}"))?;
    let ev = |s| ctx.new_event(Some(s)).map_err(|e| format!("{e:?}"));
    let (a, b) = (ev(sys::CUevent_flags::CU_EVENT_DEFAULT)?, ev(sys::CUevent_flags::CU_EVENT_DEFAULT)?);
    stream.memcpy_htod(&host, &mut dev).map_err(|e| format!("{e:?}"))?; // warm-up
    a.record(&stream).map_err(|e| format!("{e:?}"))?;
    for _ in 0..10 {
        stream.memcpy_htod(&host, &mut dev).map_err(|e| format!("{e:?}"))?;
    }
    b.record(&stream).map_err(|e| format!("{e:?}"))?;
    stream.synchronize().map_err(|e| format!("{e:?}"))?;
    let t = a.elapsed_ms(&b).map_err(|e| format!("{e:?}"))? as f64 / 1e3;
    Ok(10.0 * n as f64 / t / 1e9)
}

fn stage_report(p: &Pipeline, frame: &[u8], w: u32, h: u32, frames: usize) -> Result<(), clo_pipeline::Error> {
    for _ in 0..10 {
        p.infer_rgb8(frame, w, h)?; // warm-up (cuDNN autotuning, first allocations)
    }
    let before = p.cuda_stats().unwrap_or_default();
    let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..frames {
        let r = p.infer_rgb8(frame, w, h)?;
        let s = r.timings;
        for (v, d) in t.iter_mut().zip([s.preprocess, s.detect, s.postprocess, s.estimate, s.total]) {
            v.push(ms(d));
        }
    }
    let after = p.cuda_stats().unwrap_or_default();
    let [pre, det, post, est, total] = t.map(median);
    let (mp, mq) = p.stage_modes();
    println!(
        "  stages {mp:?}/{mq:?} (median of {frames}, ms): upload+preprocess {pre:.3}  detect {det:.3}  postprocess {post:.3}  \
         estimate {est:.3}  end-to-end (wall) {total:.3}"
    );
    println!(
        "    models alone (detect + estimate) {:.3} ms; end-to-end / models = {:.2}",
        det + est,
        total / (det + est)
    );
    let bytes = (after.upload_bytes - before.upload_bytes) as f64;
    let secs = after.upload_seconds - before.upload_seconds;
    println!(
        "    uploads: {} ({:.1} MiB/frame) at {:.2} GB/s; downloads per frame: {}; between-stage copies: {}",
        after.uploads - before.uploads,
        bytes / frames.max(1) as f64 / (1 << 20) as f64,
        bytes / secs / 1e9,
        (after.downloads - before.downloads) as f64 / frames.max(1) as f64,
        after.between_stage_copies
    );
    Ok(())
}

fn fps(p: &Arc<Pipeline>, frame: &Arc<Vec<u8>>, w: u32, h: u32, frames: usize, threads: usize) -> f64 {
    let t = Instant::now();
    let per = frames / threads.max(1);
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (p, f) = (Arc::clone(p), Arc::clone(frame));
            std::thread::spawn(move || {
                for _ in 0..per {
                    if let Err(e) = p.infer_rgb8(&f, w, h) {
                        eprintln!("infer failed: {e}");
                        return;
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    (per * threads.max(1)) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let a = args();
    let build = |mode: StageMode| Pipeline::builder(&a.repository).stage_mode(mode).device(Device::Cuda(0)).build();
    let native = match build(StageMode::Native) {
        Ok(p) => p,
        Err(e) => {
            println!("gpu_bench: SKIP, no usable GPU:\n{e}");
            return;
        }
    };
    let info = native.device();
    println!(
        "device: {} — {} (compute capability {:?}, driver CUDA {:?}, NVRTC {:?})",
        info.device,
        info.name.as_deref().unwrap_or("?"),
        info.compute_capability,
        info.driver_version,
        info.nvrtc_version
    );
    let img = match image::open(&a.image) {
        Ok(i) => i.to_rgb8(),
        Err(e) => {
            eprintln!("{}: {e}", a.image.display());
            std::process::exit(1);
        }
    };
    let (w, h) = (3840u32, 2160u32);
    let frame = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle).into_raw();
    println!("frame: {} resized to {w}x{h} ({:.1} MiB u8)", a.image.display(), frame.len() as f64 / (1 << 20) as f64);
    match pinned_peak_gbps(0) {
        Ok(g) => println!("pinned host→device peak (256 MiB cuMemcpyHtoDAsync x10): {g:.2} GB/s"),
        Err(e) => println!("pinned peak: failed: {e}"),
    }
    println!("native kernels:");
    if let Err(e) = stage_report(&native, &frame, w, h, a.frames) {
        println!("  failed: {e}");
    }
    match build(StageMode::Model) {
        Ok(model) => {
            println!("repository's ONNX pre/post models on the GPU:");
            if let Err(e) = stage_report(&model, &frame, w, h, a.frames) {
                println!("  failed: {e}");
            }
        }
        Err(e) => println!("Model mode: failed to build: {e}"),
    }
    let p = Arc::new(native);
    let f = Arc::new(frame);
    let one = fps(&p, &f, w, h, a.frames, 1);
    let many = fps(&p, &f, w, h, a.frames, a.in_flight);
    println!("FPS (native, {w}x{h}): 1 in flight {one:.1}; {} in flight {many:.1}", a.in_flight);
}
