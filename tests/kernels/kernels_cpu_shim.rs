//! The CUDA kernels, compiled as C++ through `kernels/cpu_shim.h` and run on the CPU, against the crate's
//! native CPU stages (`clo_pipeline::stages`, which implement `docs/geometry.md`).
//!
//! At test time (`tests/common/shim.rs`, shared with `tests/properties.rs`) `g++ -std=c++20 -O2 -shared -fPIC -DCLO_CPU_SHIM` builds every `kernels/*.cu` into a
//! shared library in a temporary folder, which is loaded with `libloading`; each `.cu` file's
//! `#ifdef CLO_CPU_SHIM` block exports a launcher (`shim_letterbox`, `shim_resize`, `shim_crop_resize`,
//! `shim_best_box`). Without g++ the tests print `SKIP: …` and pass (they fail when `CI` is set).
//!
//! The CPU side is [`cpu`], thin wrappers over `clo_pipeline::stages`.
//!
//! Tolerance: [`TOL`] = 1e-5 absolute on the 0..1 scale (1e-5 × 255 on the 0..255 scale of the Model-mode
//! resize), and the crop box within 1e-5 px relative to the frame size. The kernels use the spec's f32
//! operations in the same order as `stages`, so the measured difference is 0 (printed by each test).
#![allow(clippy::too_many_arguments)]

use crate::shim;
use clo_pipeline::{ChannelOrder, InputEncoding};
use shim::shim;

/// Largest absolute difference allowed between a kernel and the CPU stage, on the 0..1 scale.
const TOL: f32 = 1e-5;
const SIDE: usize = 640;
const CROP: usize = 384;
const PAD_VALUE: f32 = 114.0 / 255.0;
const SCALE: f32 = 1.0 / 255.0;
const THRESHOLD: f32 = 0.25;
/// Rows of the detection tensor (`yolo_detections` [1,300,6]).
const ROWS: usize = 300;

/// The CPU side of the comparison: the crate's native stages (`clo_pipeline::stages`), on packed frames (the
/// kernels get frames with padded rows too), behind the small signatures the tests use.
mod cpu {
    use clo_pipeline::InputEncoding;
    use clo_pipeline::stages::{self, CropBox, Geometry};

    /// The letterbox placement (`stages::Letterbox`'s fields the kernels take).
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Letterbox {
        pub new_w: usize,
        pub new_h: usize,
        pub pad_left: usize,
        pub pad_top: usize,
    }

    fn ops_lb(w: usize, h: usize, side: usize) -> stages::Letterbox {
        stages::Letterbox::new(w as u32, h as u32, side as u32).unwrap()
    }

    /// `stages::Letterbox::new(w, h, side)`.
    pub fn letterbox_params(w: usize, h: usize, side: usize) -> Letterbox {
        let lb = ops_lb(w, h, side);
        Letterbox {
            new_w: lb.new_w as usize,
            new_h: lb.new_h as usize,
            pad_left: lb.pad_left as usize,
            pad_top: lb.pad_top as usize,
        }
    }

    /// `stages::resize::cpu::resize_to_nchw`.
    pub fn resize_to_nchw(
        f: &[u8],
        w: usize,
        h: usize,
        out_w: usize,
        out_h: usize,
        e: &InputEncoding,
        out: &mut [f32],
    ) {
        stages::resize::cpu::resize_to_nchw(f, w as u32, h as u32, out_w as u32, out_h as u32, e, out).unwrap();
    }

    /// `stages::letterbox::cpu::letterbox` with the default geometry but `side`, `pad_value` and `scale`.
    pub fn letterbox(
        f: &[u8],
        w: usize,
        h: usize,
        side: usize,
        pad_value: f32,
        scale: f32,
        out: &mut [f32],
    ) -> Letterbox {
        let g = Geometry { letterbox: side as u32, pad_value, scale, ..Geometry::default() };
        stages::letterbox::cpu::letterbox(f, w as u32, h as u32, &g, out).unwrap();
        letterbox_params(w, h, side)
    }

    /// `stages::best_detection`.
    pub fn best_detection(dets: &[f32], threshold: f32) -> Option<usize> {
        stages::best_detection(dets, threshold)
    }

    /// `stages::crop_box` of the row (or the whole frame without one), as `[x1, y1, x2, y2]`.
    pub fn crop_box(row: Option<&[f32]>, _lb: &Letterbox, w: usize, h: usize) -> [f32; 4] {
        let row = row.map(|r| <&[f32; 6]>::try_from(r).unwrap());
        let b = stages::crop_box(row, &ops_lb(w, h, super::SIDE));
        [b.x1, b.y1, b.x2, b.y2]
    }

    /// `stages::crop::cpu::crop_resize`.
    pub fn crop_resize(f: &[u8], w: usize, h: usize, b: &[f32; 4], side: usize, scale: f32, out: &mut [f32]) {
        let b = CropBox { x1: b[0], y1: b[1], x2: b[2], y2: b[3] };
        stages::crop::cpu::crop_resize(f, w as u32, h as u32, &b, side as u32, scale, out).unwrap();
    }
}

/// A random u8 RGB frame with `pitch` bytes per row (pitch >= 3 * w; the padding bytes are random too).
struct Frame {
    w: usize,
    h: usize,
    pitch: usize,
    data: Vec<u8>,
}

/// xorshift64*: reproducible random numbers without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

impl Frame {
    /// The frame without row padding, as the CPU stages take it.
    fn packed(&self) -> Vec<u8> {
        self.data.chunks(self.pitch).flat_map(|row| &row[..3 * self.w]).copied().collect()
    }
}

fn frame(w: usize, h: usize, row_padding: usize, seed: u64) -> Frame {
    let pitch = 3 * w + row_padding;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut data = vec![0u8; pitch * h];
    for chunk in data.chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    Frame { w, h, pitch, data }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The frame sizes every image stage is checked on: 4K and 1080p, odd and tiny, and not 16:9.
const SIZES: &[(usize, usize)] = &[(3840, 2160), (1920, 1080), (1, 1), (7, 13), (641, 359), (4000, 3000), (360, 1000)];

#[test]
fn letterbox_matches_cpu() {
    let Some(shim) = shim() else { return };
    for (k, &(w, h)) in SIZES.iter().enumerate() {
        // Odd sizes also get a padded row pitch.
        let f = frame(w, h, if w % 2 == 1 { 5 } else { 0 }, k as u64 + 1);
        let mut want = vec![0f32; 3 * SIDE * SIDE];
        let lb = cpu::letterbox(&f.packed(), w, h, SIDE, PAD_VALUE, SCALE, &mut want);
        let mut got = vec![f32::NAN; 3 * SIDE * SIDE];
        // SAFETY: `f.data` holds `pitch * h` bytes, `got` 3 * SIDE * SIDE floats, and the letterbox
        // parameters fit inside SIDE (as the kernel requires).
        unsafe {
            (shim.letterbox)(
                f.data.as_ptr(),
                w as i32,
                h as i32,
                f.pitch as i32,
                got.as_mut_ptr(),
                SIDE as i32,
                lb.new_w as i32,
                lb.new_h as i32,
                lb.pad_left as i32,
                lb.pad_top as i32,
                SCALE,
                PAD_VALUE,
            )
        };
        let d = max_abs_diff(&got, &want);
        println!("letterbox {w}x{h} -> {lb:?}: max |kernel - cpu| = {d:e}");
        assert!(d <= TOL, "letterbox {w}x{h}: {d} > {TOL}");
    }
    assert_eq!(
        cpu::letterbox_params(3840, 2160, SIDE),
        cpu::Letterbox { new_w: 640, new_h: 360, pad_left: 0, pad_top: 140 }
    );
}

#[test]
fn resize_matches_cpu() {
    let Some(shim) = shim() else { return };
    type Size = (usize, usize);
    let cases: &[(Size, Size, f32)] = &[
        ((1920, 1080), (3840, 2160), 1.0),
        ((4000, 3000), (3840, 2160), 1.0),
        ((360, 1000), (3840, 2160), 1.0),
        ((3840, 2160), (3840, 2160), 1.0),
        ((3840, 2160), (640, 360), SCALE),
        ((641, 359), (333, 777), SCALE),
        ((7, 13), (31, 17), 1.0),
        ((1, 1), (5, 3), 1.0),
    ];
    for (k, &((w, h), (ow, oh), scale)) in cases.iter().enumerate() {
        let f = frame(w, h, if k % 2 == 1 { 3 } else { 0 }, 100 + k as u64);
        // Every other case in BGR with an offset (the other input conventions Model mode builds).
        let e = if k % 2 == 1 {
            InputEncoding { scale, offset: -0.5, order: ChannelOrder::Bgr }
        } else {
            InputEncoding { scale, ..InputEncoding::RGB }
        };
        let mut want = vec![0f32; 3 * ow * oh];
        cpu::resize_to_nchw(&f.packed(), w, h, ow, oh, &e, &mut want);
        let mut got = vec![f32::NAN; 3 * ow * oh];
        // SAFETY: `f.data` holds `pitch * h` bytes and `got` 3 * ow * oh floats.
        unsafe {
            (shim.resize)(
                f.data.as_ptr(),
                w as i32,
                h as i32,
                f.pitch as i32,
                got.as_mut_ptr(),
                ow as i32,
                oh as i32,
                e.scale,
                e.offset,
                i32::from(e.order == ChannelOrder::Bgr),
            )
        };
        let d = max_abs_diff(&got, &want);
        // Scale 1 keeps values on 0..255: the same relative tolerance.
        let tol = TOL * if scale == 1.0 { 255.0 } else { 1.0 };
        println!("resize {w}x{h} -> {ow}x{oh} ({e}): max |kernel - cpu| = {d:e}");
        assert!(d <= tol, "resize {w}x{h} -> {ow}x{oh}: {d} > {tol}");
    }
}

/// A detection tensor of ROWS rows, zero except `rows` at their indices.
fn dets(rows: &[(usize, [f32; 6])]) -> Vec<f32> {
    let mut d = vec![0f32; ROWS * 6];
    for &(i, r) in rows {
        d[i * 6..i * 6 + 6].copy_from_slice(&r);
    }
    d
}

/// Named detection cases: (name, tensor).
fn detection_cases() -> Vec<(&'static str, Vec<f32>)> {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let mut rng = Rng(42);
    let random: Vec<(usize, [f32; 6])> = (0..ROWS)
        .map(|i| {
            let (x, y) = (rng.f32() * 640.0, rng.f32() * 640.0);
            (i, [x, y, x + rng.f32() * 200.0, y + rng.f32() * 200.0, rng.f32(), 0.0])
        })
        .collect();
    vec![
        ("typical", dets(&[(0, [10., 150., 200., 300., 0.5, 0.]), (3, [300., 200., 400., 420., 0.9, 0.])])),
        ("random 300 rows", dets(&random)),
        (
            "tie: lowest row wins (same thread, other threads)",
            dets(&[
                (3, [1., 141., 2., 142., 0.3, 0.]),
                (259, [5., 150., 50., 200., 0.8, 0.]),
                (10, [100., 200., 300., 400., 0.8, 0.]),
                (200, [7., 160., 70., 210., 0.8, 0.]),
            ]),
        ),
        ("score == threshold is a candidate", dets(&[(7, [64., 200., 128., 260., THRESHOLD, 0.])])),
        ("all below threshold", dets(&[(0, [10., 150., 200., 300., 0.2, 0.]), (1, [1., 2., 3., 4., 0.24, 0.])])),
        ("empty (all zero rows)", dets(&[])),
        (
            "NaN and infinite rows are skipped",
            dets(&[
                (0, [10., 150., 200., 300., nan, 0.]),
                (1, [nan, 150., 200., 300., 0.99, 0.]),
                (2, [10., inf, 200., 300., 0.98, 0.]),
                (3, [10., 150., -inf, 300., 0.97, 0.]),
                (4, [10., 150., 200., 300., inf, 0.]),
                (5, [20., 160., 220., 320., 0.4, nan]),
            ]),
        ),
        ("only NaN rows", dets(&[(0, [nan; 6]), (299, [1., 2., 3., 4., nan, 0.])])),
        ("inverted box", dets(&[(9, [400., 450., 100., 180., 0.7, 1.])])),
        ("zero-area box", dets(&[(9, [320., 320., 320., 320., 0.7, 1.])])),
        ("box over the borders", dets(&[(299, [-50., -20., 700., 900., 0.6, 0.])])),
        ("box in the padding, above the image", dets(&[(4, [100., 0., 200., 100., 0.6, 0.])])),
        (
            "box entirely outside",
            dets(&[(4, [700., 700., 900., 800., 0.6, 0.]), (5, [-90., -80., -10., -5., 0.5, 0.])]),
        ),
        ("huge coordinates", dets(&[(1, [-3e38, -3e38, 3e38, 3e38, 0.6, 0.])])),
    ]
}

#[test]
fn best_box_and_crop_match_cpu() {
    let Some(shim) = shim() else { return };
    let mut worst_crop = 0f32;
    for (k, &(w, h)) in [(3840, 2160), (1920, 1080), (360, 1000), (641, 359), (1, 1)].iter().enumerate() {
        let f = frame(w, h, if w % 2 == 1 { 2 } else { 0 }, 500 + k as u64);
        let packed = f.packed();
        let lb = cpu::letterbox_params(w, h, SIDE);
        for (name, d) in detection_cases() {
            let best = cpu::best_detection(&d, THRESHOLD);
            let want_box = cpu::crop_box(best.map(|i| &d[i * 6..i * 6 + 6]), &lb, w, h);
            let mut first_box = None;
            // The reduction must not depend on the block size: 256 (the launch size), and odd ones.
            for threads in [256, 1, 7, 100, 255] {
                let mut got_box = [f32::NAN; 4];
                let mut got_row = -2i32;
                // SAFETY: `d` holds ROWS * 6 floats, `got_box` 4 and `got_row` 1; 1 <= threads <= 256.
                unsafe {
                    (shim.best_box)(
                        d.as_ptr(),
                        ROWS as i32,
                        THRESHOLD,
                        lb.new_w as i32,
                        lb.new_h as i32,
                        lb.pad_left as i32,
                        lb.pad_top as i32,
                        w as i32,
                        h as i32,
                        got_box.as_mut_ptr(),
                        &mut got_row,
                        threads,
                    )
                };
                let want_row = best.map_or(-1, |i| i as i32);
                assert_eq!(got_row, want_row, "{w}x{h} `{name}` ({threads} threads): best row");
                let box_tol = TOL * w.max(h) as f32;
                for (g, e) in got_box.iter().zip(&want_box) {
                    assert!(
                        (g - e).abs() <= box_tol,
                        "{w}x{h} `{name}` ({threads} threads): box {got_box:?} vs {want_box:?}"
                    );
                }
                assert!(got_box[0] <= got_box[2] && got_box[1] <= got_box[3], "{name}: box not ordered");
                assert!(got_box[2] <= (w - 1) as f32 && got_box[3] <= (h - 1) as f32 && got_box[0] >= 0.0);
                first_box.get_or_insert(got_box);
            }
            // The crop, from the kernel's box (as on the device) against the CPU crop of the CPU box.
            let got_box = first_box.unwrap();
            let mut want = vec![0f32; 3 * CROP * CROP];
            cpu::crop_resize(&packed, w, h, &want_box, CROP, SCALE, &mut want);
            let mut got = vec![f32::NAN; 3 * CROP * CROP];
            // SAFETY: `f.data` holds `pitch * h` bytes, `got_box` 4 floats, `got` 3 * CROP * CROP floats.
            unsafe {
                (shim.crop)(
                    f.data.as_ptr(),
                    w as i32,
                    h as i32,
                    f.pitch as i32,
                    got_box.as_ptr(),
                    got.as_mut_ptr(),
                    CROP as i32,
                    SCALE,
                )
            };
            let dd = max_abs_diff(&got, &want);
            worst_crop = worst_crop.max(dd);
            assert!(dd <= TOL, "{w}x{h} `{name}`: crop differs by {dd} > {TOL}");
        }
    }
    println!("best_box: rows and boxes equal for every case and block size; crop max |kernel - cpu| = {worst_crop:e}");
}

#[test]
fn crop_handles_other_sides_and_any_box() {
    let Some(shim) = shim() else { return };
    let f = frame(641, 359, 1, 77);
    // In-frame, zero-area, at the far edge, inverted, and partly outside (both sides order and clamp it).
    let boxes: &[[f32; 4]] = &[
        [0.0, 0.0, 640.0, 358.0],
        [10.5, 20.25, 10.5, 20.25],
        [639.9, 357.1, 640.0, 358.0],
        [600.0, 300.0, 10.0, 20.0],
        [-100.0, -100.0, 1e9, 1e9],
    ];
    for side in [1usize, 2, 3, 384, 500] {
        for b in boxes {
            let mut want = vec![0f32; 3 * side * side];
            cpu::crop_resize(&f.packed(), f.w, f.h, b, side, SCALE, &mut want);
            let mut got = vec![f32::NAN; 3 * side * side];
            // SAFETY: `f.data` holds `pitch * h` bytes, `b` 4 floats, `got` 3 * side * side floats.
            unsafe {
                (shim.crop)(
                    f.data.as_ptr(),
                    f.w as i32,
                    f.h as i32,
                    f.pitch as i32,
                    b.as_ptr(),
                    got.as_mut_ptr(),
                    side as i32,
                    SCALE,
                )
            };
            let d = max_abs_diff(&got, &want);
            assert!(d <= TOL, "crop side {side} box {b:?}: {d} > {TOL}");
        }
    }
    // A NaN box (never produced by best_box; the CPU stage rejects it) still reads inside the frame.
    let mut out = vec![0f32; 3 * 4 * 4];
    for b in [[f32::NAN; 4], [f32::NAN, 3.0, f32::INFINITY, -f32::INFINITY]] {
        // SAFETY: as above; the kernel clamps coordinates before indexing.
        unsafe {
            (shim.crop)(f.data.as_ptr(), f.w as i32, f.h as i32, f.pitch as i32, b.as_ptr(), out.as_mut_ptr(), 4, SCALE)
        };
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)), "box {b:?}: {out:?}");
    }
}
