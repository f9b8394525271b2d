//! The CPU image stages on a 3840 × 2160 frame: letterbox to 640, crop-resize to 384, and Model mode's
//! `resize_to_nchw` to 3840 × 2160 (identity copy and a 1920 × 1080 upscale). Device: the CPU, rayon's
//! global pool (all cores).

use clo_pipeline::InputEncoding;
use clo_pipeline::stages::{CropBox, Geometry, crop, letterbox, resize};
use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn frame(w: usize, h: usize) -> Vec<u8> {
    let mut s = 0x9e37_79b9_7f4a_7c15_u64;
    (0..w * h * 3)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 56) as u8
        })
        .collect()
}

fn stages(c: &mut Criterion) {
    let g = Geometry::default();
    let (w, h) = (3840_u32, 2160_u32);
    let f = frame(w as usize, h as usize);
    let t = g.letterbox as usize;
    let s = g.crop as usize;

    let mut lb = vec![0.0_f32; 3 * t * t];
    c.bench_function("cpu/letterbox 3840x2160 -> 640", |b| {
        b.iter(|| letterbox::cpu::letterbox(black_box(&f), w, h, &g, &mut lb))
    });

    let mut crop = vec![0.0_f32; 3 * s * s];
    let boxed = CropBox { x1: 1200.5, y1: 700.25, x2: 2400.75, y2: 1500.5 };
    c.bench_function("cpu/crop_resize 3840x2160 box 1200x800 -> 384", |b| {
        b.iter(|| crop::cpu::crop_resize(black_box(&f), w, h, &boxed, g.crop, g.scale, &mut crop))
    });
    let full = CropBox::full_frame(w, h);
    c.bench_function("cpu/crop_resize 3840x2160 full frame -> 384", |b| {
        b.iter(|| crop::cpu::crop_resize(black_box(&f), w, h, &full, g.crop, g.scale, &mut crop))
    });

    let mut big = vec![0.0_f32; 3 * w as usize * h as usize];
    let mut group = c.benchmark_group("cpu/resize_to_nchw");
    group.sample_size(20);
    group.bench_function("3840x2160 -> 3840x2160 (copy)", |b| {
        b.iter(|| resize::cpu::resize_to_nchw(black_box(&f), w, h, w, h, &InputEncoding::RGB, &mut big))
    });
    let half = frame(1920, 1080);
    group.bench_function("1920x1080 -> 3840x2160", |b| {
        b.iter(|| resize::cpu::resize_to_nchw(black_box(&half), 1920, 1080, w, h, &InputEncoding::RGB, &mut big))
    });
    group.finish();

    // Model mode's stretch of a frame of another size, FrameResize::HalfPixelBilinear (above: straight to the
    // f32 tensor) against FrameResize::PillowBilinear (to u8 as Pillow, then the equal-size copy above).
    let mut group = c.benchmark_group("cpu/frame_resize to 3840x2160 u8");
    group.sample_size(10);
    let (mut rows, mut stretched) = (Vec::new(), vec![0_u8; 3 * w as usize * h as usize]);
    group.bench_function("pillow-bilinear 1920x1080", |b| {
        b.iter(|| resize::cpu::pillow_bilinear(black_box(&half), 1920, 1080, w, h, &mut rows, &mut stretched))
    });
    let big8k = frame(7680, 4320);
    group.bench_function("pillow-bilinear 7680x4320", |b| {
        b.iter(|| resize::cpu::pillow_bilinear(black_box(&big8k), 7680, 4320, w, h, &mut rows, &mut stretched))
    });
    group.bench_function("half-pixel-bilinear 7680x4320 (to f32)", |b| {
        b.iter(|| resize::cpu::resize_to_nchw(black_box(&big8k), 7680, 4320, w, h, &InputEncoding::RGB, &mut big))
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
