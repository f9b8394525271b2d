//! Memory on the native path, measured with a counting global allocator (this test binary only).
//!
//! Proves that Native mode never allocates a buffer the size of a 3840 × 2160 f32 frame (3 × 2160 × 3840 × 4
//! bytes ≈ 99.5 MB), and that after warm-up `infer_rgb8_into` allocates nothing of a crop's size or more per
//! frame. It counts the Rust allocator only: ONNX Runtime allocates its tensors with its own (C++) allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use clo_pipeline::{Inference, Pipeline, StageMode};

struct Counting;

static TRACK: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);
/// Allocations of at least `BIG` bytes while tracking.
static BIG_COUNT: AtomicUsize = AtomicUsize::new(0);
static BIG: AtomicUsize = AtomicUsize::new(usize::MAX);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are atomics and never
// allocate, so the allocator contract (layout, alignment, no reentrancy) is the system allocator's.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same layout as given to us; the caller upholds GlobalAlloc::alloc's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for alloc.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by System with this layout (every allocation goes through System).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: ptr was allocated by System with `layout`; the caller upholds realloc's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note(size: usize) {
    if TRACK.load(Ordering::Relaxed) {
        LARGEST.fetch_max(size, Ordering::Relaxed);
        if size >= BIG.load(Ordering::Relaxed) {
            BIG_COUNT.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The counters are global: the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const W: u32 = 3840;
const H: u32 = 2160;
const F32_FRAME: usize = 3 * H as usize * W as usize * 4;

fn frame() -> Vec<u8> {
    (0..W as usize * H as usize * 3).map(|i| ((i * 7 + i / 11_520 * 3) % 251) as u8).collect()
}

#[test]
fn native_path_never_allocates_a_frame_sized_f32_buffer_and_nothing_large_per_frame() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let p = Pipeline::builder(common::repository()).stage_mode(StageMode::Native).build().unwrap();
    let f = frame();
    let crop_bytes = 3 * p.geometry().crop as usize * p.geometry().crop as usize * 4;
    let mut out = Inference::default();
    // Warm-up: the worker's buffers and `out` get their sizes.
    p.infer_rgb8_into(&f, W, H, &mut out).unwrap();
    assert_eq!(out.crop.dim(), (1, 3, p.geometry().crop as usize, p.geometry().crop as usize));

    BIG.store(crop_bytes, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    BIG_COUNT.store(0, Ordering::Relaxed);
    TRACK.store(true, Ordering::Relaxed);
    for _ in 0..3 {
        p.infer_rgb8_into(&f, W, H, &mut out).unwrap();
    }
    TRACK.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    let big = BIG_COUNT.load(Ordering::Relaxed);
    println!(
        "native infer_rgb8_into, 3 frames after warm-up: largest allocation {largest} B, {big} of >= {crop_bytes} B"
    );
    assert!(largest < F32_FRAME, "largest allocation {largest} B >= a 3840x2160 f32 frame ({F32_FRAME} B)");
    assert_eq!(big, 0, "{big} allocations of a crop's size ({crop_bytes} B) or more in steady state");

    // `infer` (a fresh result each call) allocates the crop per frame, but still nothing frame-sized.
    LARGEST.store(0, Ordering::Relaxed);
    TRACK.store(true, Ordering::Relaxed);
    let r = p.infer_rgb8(&f, W, H).unwrap();
    TRACK.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    println!("native infer_rgb8: largest allocation {largest} B");
    assert!(largest >= crop_bytes, "infer_rgb8 returns a new crop, so it must allocate one ({largest} B)");
    assert!(largest < F32_FRAME, "largest allocation {largest} B >= a 3840x2160 f32 frame ({F32_FRAME} B)");
    assert_eq!(r.oil_pct, out.oil_pct);
    assert_eq!(r.crop, out.crop);
}

#[test]
fn model_path_allocates_the_f32_frame_once_per_worker_at_build() {
    // The counter can see a frame-sized buffer: Model mode needs one (the models' input), kept by the worker.
    // The build's first worker makes it (settling the input convention feeds the models a probe frame), so
    // the frames after that allocate none.
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    LARGEST.store(0, Ordering::Relaxed);
    TRACK.store(true, Ordering::Relaxed);
    let p = Pipeline::builder(common::repository()).stage_mode(StageMode::Model).build().unwrap();
    TRACK.store(false, Ordering::Relaxed);
    assert!(LARGEST.load(Ordering::Relaxed) >= F32_FRAME, "the counting allocator missed the f32 frame");
    let f = frame();
    let mut out = Inference::default();
    p.infer_rgb8_into(&f, W, H, &mut out).unwrap();
    LARGEST.store(0, Ordering::Relaxed);
    TRACK.store(true, Ordering::Relaxed);
    p.infer_rgb8_into(&f, W, H, &mut out).unwrap();
    TRACK.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < F32_FRAME, "a Model-mode frame allocated {largest} B, a frame-sized buffer ({F32_FRAME} B)");
}
