//! One `Pipeline` shared by 8 threads, started together at a barrier, each running frames of mixed sizes
//! (1×1 to 320×180): every result is bit-identical to the sequential result for the same frame, and the run
//! ends (a watchdog fails the test instead of hanging when a worker deadlocks).
//!
//! Size: 8 threads × 500 frames, the full size (each frame costs the two models, 640×640 detector
//! and 384×384 estimator, whatever its size: 174 s on the 2-core development machine under load, see
//! docs/reliability.md). `CLO_CONCURRENCY_FRAMES=N` sets the frames per thread.
//!
//! Native stage mode (the default on the fixture repository): the Model-mode stages build the 3840×2160
//! f32 tensor per frame (about a second a frame on a 2-core CI machine), so Model mode runs a smaller
//! mixed-mode case (`model_mode_threads_match_sequential`).

use crate::common;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use clo_pipeline::{Inference, Pipeline, StageMode};
use common::*;

const THREADS: usize = 8;

/// Generous bound for the whole run: only a deadlock gets near it.
const WATCHDOG: Duration = Duration::from_secs(900);

/// Frames of mixed sizes, with content that makes the detector find something in some of them.
fn frames() -> Vec<(Vec<u8>, u32, u32)> {
    let photo = rgb("coffee");
    let sizes = [(64u32, 36u32), (320, 180), (160, 90), (97, 61), (64, 64), (213, 120), (1, 1), (300, 17)];
    sizes
        .iter()
        .enumerate()
        .map(|(k, &(w, h))| {
            // Sample the photograph (nearest) and add a per-frame offset, so frames differ.
            let img = image::imageops::resize(&photo, w, h, image::imageops::FilterType::Nearest);
            let f = img.as_raw().iter().map(|&v| v.wrapping_add(k as u8 * 13)).collect();
            (f, w, h)
        })
        .collect()
}

/// Everything of a result that must not depend on concurrency, as bits: oil, crop, crop box, detections
/// (row, box, score), best.
type Fingerprint = (u32, Vec<u32>, [u32; 4], Vec<(usize, [u32; 4], u32)>, Option<usize>);

fn fingerprint(o: &Inference) -> Fingerprint {
    (
        o.oil_pct.to_bits(),
        o.crop.iter().map(|v| v.to_bits()).collect(),
        o.crop_box.map(f32::to_bits),
        o.detections.iter().map(|d| (d.row, d.bbox.map(f32::to_bits), d.score.to_bits())).collect(),
        o.best,
    )
}

fn frames_per_thread() -> usize {
    std::env::var("CLO_CONCURRENCY_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(500)
}

/// Runs `per_thread` frames on each of `threads` threads sharing `p`, started at a barrier; returns the
/// number of results checked against `want` (the sequential fingerprints).
fn hammer(p: Arc<Pipeline>, frames: Arc<Vec<(Vec<u8>, u32, u32)>>, threads: usize, per_thread: usize) -> usize {
    let want: Arc<Vec<_>> =
        Arc::new(frames.iter().map(|(f, w, h)| fingerprint(&p.infer_rgb8(f, *w, *h).unwrap())).collect());
    let barrier = Arc::new(Barrier::new(threads));
    let (tx, rx) = mpsc::channel();
    for t in 0..threads {
        let (p, frames, want, barrier, tx) = (p.clone(), frames.clone(), want.clone(), barrier.clone(), tx.clone());
        std::thread::spawn(move || {
            barrier.wait();
            let mut checked = 0;
            for i in 0..per_thread {
                // Each thread walks the frames in its own order, so sizes are mixed at every moment.
                let k = (t * 5 + i * (t + 1)) % frames.len();
                let (f, w, h) = &frames[k];
                let got = p.infer_rgb8(f, *w, *h).map(|o| fingerprint(&o));
                match got {
                    Ok(g) if g == want[k] => checked += 1,
                    Ok(_) => {
                        let _ =
                            tx.send(Err(format!("thread {t} frame {i} ({w}x{h}): differs from the sequential run")));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("thread {t} frame {i} ({w}x{h}): {e}")));
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(checked));
        });
    }
    drop(tx);
    let mut total = 0;
    for _ in 0..threads {
        match rx.recv_timeout(WATCHDOG) {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => panic!("{e}"),
            Err(e) => panic!("no result within {WATCHDOG:?} (deadlock?): {e}"),
        }
    }
    total
}

#[test]
fn eight_threads_match_sequential_bit_for_bit() {
    let p = Arc::new(Pipeline::builder(repository()).stage_mode(StageMode::Native).intra_threads(1).build().unwrap());
    let per_thread = frames_per_thread();
    let t = std::time::Instant::now();
    let n = hammer(p, Arc::new(frames()), THREADS, per_thread);
    assert_eq!(n, THREADS * per_thread);
    println!("{THREADS} threads x {per_thread} frames: {n} results bit-identical to sequential, in {:?}", t.elapsed());
}

#[test]
fn model_mode_threads_match_sequential() {
    let p = Arc::new(
        Pipeline::builder(repository())
            .preprocess(StageMode::Model)
            .postprocess(StageMode::Model)
            .intra_threads(1)
            .build()
            .unwrap(),
    );
    let frames: Vec<_> = frames().into_iter().take(3).collect();
    let n = hammer(p, Arc::new(frames), 4, 2);
    assert_eq!(n, 8);
}
