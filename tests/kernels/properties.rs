//! Property tests (proptest, CI-sized case counts): the geometry of `docs/geometry.md`,
//! and the CUDA kernels (run on the CPU through `kernels/cpu_shim.h`) against the native CPU stages, on
//! generated inputs. A failing case is shrunk and printed with the seed to reproduce it.

use crate::shim;

use clo_pipeline::stages::{self, CropBox, DETECTION_ROW, Geometry, Letterbox, best_detection, crop_box};
use clo_pipeline::{ChannelOrder, InputEncoding};
use proptest::prelude::*;
use proptest::test_runner::Config;

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    /// `docs/geometry.md`'s letterbox invariants for any frame and side; `to_letterbox` inverts `to_original`.
    #[test]
    fn letterbox_invariants_and_inverse(
        w in 1u32..=20_000, h in 1u32..=20_000, side in 1u32..=2048, fx in 0f32..=1.0, fy in 0f32..=1.0,
    ) {
        let lb = Letterbox::new(w, h, side).unwrap();
        prop_assert!((1..=side).contains(&lb.new_w) && (1..=side).contains(&lb.new_h), "{lb:?}");
        prop_assert!(lb.pad_left + lb.new_w <= side && lb.pad_top + lb.new_h <= side, "{lb:?}");
        // The longer side fills the letterbox; padding is centred (floored).
        if w >= h { prop_assert_eq!(lb.new_w, side) } else { prop_assert_eq!(lb.new_h, side) }
        prop_assert_eq!((lb.pad_left, lb.pad_top), ((side - lb.new_w) / 2, (side - lb.new_h) / 2));
        // A point in the letterbox: to original pixels and back.
        let (x, y) = (fx * side as f32, fy * side as f32);
        let (ox, oy) = lb.to_original(x, y);
        let (bx, by) = lb.to_letterbox(ox, oy);
        let tol = 1e-5 * (side as f32 + w.max(h) as f32);
        prop_assert!((bx - x).abs() <= tol && (by - y).abs() <= tol, "({x},{y}) -> ({ox},{oy}) -> ({bx},{by}), {lb:?}");
        // The image area maps onto the frame: its corners land on 0 and the frame size.
        let (x0, y0) = lb.to_original(lb.pad_left as f32, lb.pad_top as f32);
        let (x1, y1) = lb.to_original((lb.pad_left + lb.new_w) as f32, (lb.pad_top + lb.new_h) as f32);
        prop_assert!(x0 == 0.0 && y0 == 0.0);
        prop_assert!((x1 - w as f32).abs() <= 1e-3 * w as f32 && (y1 - h as f32).abs() <= 1e-3 * h as f32);
    }

    /// A zero side or a side outside the allowed range is a typed error, never a panic.
    #[test]
    fn letterbox_bad_sizes_are_errors(w in 0u32..3, h in 0u32..3, side in prop_oneof![Just(0u32), 1u32..64, Just(u32::MAX)]) {
        let r = Letterbox::new(w, h, side);
        if w == 0 || h == 0 || side == 0 || side == u32::MAX { prop_assert!(r.is_err()) }
    }

    /// Crop clamping keeps any corners (NaN, ±inf, huge) finite, ordered and inside the frame.
    #[test]
    fn crop_clamping_keeps_boxes_inside_and_ordered(
        ax in any::<f32>(), ay in any::<f32>(), bx in any::<f32>(), by in any::<f32>(),
        w in prop_oneof![Just(0u32), 1u32..10_000, Just(u32::MAX)], h in prop_oneof![Just(0u32), 1u32..10_000],
    ) {
        let b = CropBox::ordered_clamped(ax, ay, bx, by, w, h);
        assert_inside(&b, w, h)?;
        if ax.is_finite() && bx.is_finite() && w > 0 && ax.min(bx) >= 0.0 && ax.max(bx) <= (w - 1) as f32 {
            prop_assert_eq!((b.x1, b.x2), (ax.min(bx), ax.max(bx)), "an in-frame box is only ordered");
        }
        assert_inside(&CropBox::full_frame(w, h), w, h)?;
    }

    /// `crop_box` of any row through any letterbox stays inside the frame; `best_detection` picks a finite
    /// candidate with the highest score, lowest index on ties.
    #[test]
    fn crop_box_and_best_detection_on_any_rows(
        w in 1u32..8000, h in 1u32..8000,
        rows in proptest::collection::vec(proptest::array::uniform6(prop_oneof![any::<f32>(), -100f32..800.0, 0f32..1.0]), 0..40),
        threshold in prop_oneof![Just(0.25f32), any::<f32>()],
    ) {
        let lb = Letterbox::new(w, h, 640).unwrap();
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        for r in &rows {
            assert_inside(&crop_box(Some(r), &lb), w, h)?;
        }
        let best = best_detection(&flat, threshold);
        let candidate = |r: &[f32; 6]| r[..5].iter().all(|v| v.is_finite()) && r[4] >= threshold;
        match best {
            None => prop_assert!(!rows.iter().any(candidate)),
            Some(i) => {
                let r = &rows[i];
                prop_assert!(candidate(r));
                for (j, o) in rows.iter().enumerate().filter(|(_, o)| candidate(o)) {
                    prop_assert!(o[4] < r[4] || (o[4] == r[4] && j >= i), "row {j} beats {i}");
                }
                let (_, b) = stages::select_crop(&flat, threshold, &lb);
                prop_assert_eq!(b, crop_box(Some(r), &lb));
            }
        }
        prop_assert_eq!(flat.len() / DETECTION_ROW, rows.len());
    }
}

fn assert_inside(b: &CropBox, w: u32, h: u32) -> Result<(), TestCaseError> {
    let (wm, hm) = (w.saturating_sub(1) as f32, h.saturating_sub(1) as f32);
    prop_assert!([b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()), "{b:?}");
    prop_assert!(0.0 <= b.x1 && b.x1 <= b.x2 && b.x2 <= wm, "{b:?} in {w}x{h}");
    prop_assert!(0.0 <= b.y1 && b.y1 <= b.y2 && b.y2 <= hm, "{b:?} in {w}x{h}");
    Ok(())
}

/// Largest absolute difference allowed between a kernel and the CPU stage (as in tests/kernels_cpu_shim.rs).
const TOL: f32 = 1e-5;

/// A random frame of `w × h` RGB pixels with `pad` extra bytes per row (the kernels take a row pitch).
fn frame_strategy() -> impl Strategy<Value = (u32, u32, usize, Vec<u8>)> {
    (1u32..=96, 1u32..=96, 0usize..4).prop_flat_map(|(w, h, pad)| {
        let len = (3 * w as usize + pad) * h as usize;
        (Just(w), Just(h), Just(pad), proptest::collection::vec(any::<u8>(), len))
    })
}

fn packed(data: &[u8], w: u32, pad: usize) -> Vec<u8> {
    data.chunks(3 * w as usize + pad).flat_map(|row| &row[..3 * w as usize]).copied().collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| if x.is_nan() != y.is_nan() { f32::INFINITY } else { (x - y).abs() })
        .fold(0.0, f32::max)
}

proptest! {
    #![proptest_config(Config { cases: 64, failure_persistence: None, ..Config::default() })]

    /// Letterbox: kernel and CPU agree on random frames, pitches and sides.
    #[test]
    fn kernel_letterbox_matches_cpu((w, h, pad, data) in frame_strategy(), side in 1u32..=160) {
        let Some(shim) = shim::shim() else { return Ok(()) };
        let g = Geometry { letterbox: side, ..Geometry::default() };
        let n = 3 * side as usize * side as usize;
        let mut want = vec![0f32; n];
        let lb = stages::letterbox::cpu::letterbox(&packed(&data, w, pad), w, h, &g, &mut want).unwrap();
        let mut got = vec![f32::NAN; n];
        // SAFETY: `data` holds (3w + pad) * h bytes, `got` 3 * side * side floats; `lb` came from
        // Letterbox::new, so it fits inside `side` as the kernel requires.
        unsafe {
            (shim.letterbox)(data.as_ptr(), w as i32, h as i32, (3 * w as usize + pad) as i32, got.as_mut_ptr(),
                side as i32, lb.new_w as i32, lb.new_h as i32, lb.pad_left as i32, lb.pad_top as i32, g.scale, g.pad_value)
        };
        let d = max_abs_diff(&got, &want);
        prop_assert!(d <= TOL, "{w}x{h} pad {pad} side {side}: {d}");
    }

    /// Resize to any size: kernel and CPU agree.
    #[test]
    fn kernel_resize_matches_cpu((w, h, pad, data) in frame_strategy(), ow in 1u32..=80, oh in 1u32..=80, unit in any::<bool>(), bgr in any::<bool>()) {
        let Some(shim) = shim::shim() else { return Ok(()) };
        let scale = if unit { 1.0 } else { 1.0 / 255.0 };
        let order = if bgr { ChannelOrder::Bgr } else { ChannelOrder::Rgb };
        let e = InputEncoding { scale, offset: if bgr { -0.25 } else { 0.0 }, order };
        let n = 3 * ow as usize * oh as usize;
        let mut want = vec![0f32; n];
        stages::resize::cpu::resize_to_nchw(&packed(&data, w, pad), w, h, ow, oh, &e, &mut want).unwrap();
        let mut got = vec![f32::NAN; n];
        // SAFETY: `data` holds (3w + pad) * h bytes and `got` 3 * ow * oh floats.
        unsafe { (shim.resize)(data.as_ptr(), w as i32, h as i32, (3 * w as usize + pad) as i32, got.as_mut_ptr(), ow as i32, oh as i32, e.scale, e.offset, i32::from(bgr)) };
        let tol = TOL * if unit { 255.0 } else { 1.0 };
        let d = max_abs_diff(&got, &want);
        prop_assert!(d <= tol, "{w}x{h} -> {ow}x{oh}: {d}");
    }

    /// Best box and crop: on random rows (NaN, inf, outside, inverted), the kernel picks the CPU's row and
    /// box, and crops the same pixels, for any block size.
    #[test]
    fn kernel_best_box_and_crop_match_cpu(
        (w, h, pad, data) in frame_strategy(),
        rows in proptest::collection::vec(proptest::array::uniform6(prop_oneof![
            4 => -100f32..800.0, 4 => 0f32..1.0, 1 => Just(f32::NAN), 1 => Just(f32::INFINITY), 1 => Just(-f32::INFINITY),
        ]), 1..=300),
        threads in prop_oneof![Just(256i32), 1i32..=256],
        side in 1u32..=48,
    ) {
        let Some(shim) = shim::shim() else { return Ok(()) };
        let threshold = 0.25;
        let lb = Letterbox::new(w, h, 640).unwrap();
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let (best, want_box) = stages::select_crop(&flat, threshold, &lb);
        let mut got_box = [f32::NAN; 4];
        let mut got_row = -2i32;
        // SAFETY: `flat` holds rows * 6 floats, `got_box` 4, `got_row` 1; 1 <= threads <= 256.
        unsafe {
            (shim.best_box)(flat.as_ptr(), rows.len() as i32, threshold, lb.new_w as i32, lb.new_h as i32,
                lb.pad_left as i32, lb.pad_top as i32, w as i32, h as i32, got_box.as_mut_ptr(), &mut got_row, threads)
        };
        prop_assert_eq!(got_row, best.map_or(-1, |i| i as i32));
        let want = [want_box.x1, want_box.y1, want_box.x2, want_box.y2];
        for (g, e) in got_box.iter().zip(&want) {
            prop_assert!((g - e).abs() <= TOL * w.max(h) as f32, "box {got_box:?} vs {want:?}");
        }
        let n = 3 * side as usize * side as usize;
        let mut want_crop = vec![0f32; n];
        stages::crop::cpu::crop_resize(&packed(&data, w, pad), w, h, &want_box, side, 1.0 / 255.0, &mut want_crop).unwrap();
        let mut got = vec![f32::NAN; n];
        // SAFETY: `data` holds (3w + pad) * h bytes, `want` 4 floats, `got` 3 * side * side floats.
        unsafe { (shim.crop)(data.as_ptr(), w as i32, h as i32, (3 * w as usize + pad) as i32, want.as_ptr(), got.as_mut_ptr(), side as i32, 1.0 / 255.0) };
        let d = max_abs_diff(&got, &want_crop);
        prop_assert!(d <= TOL, "crop {w}x{h} box {want:?} side {side}: {d}");
    }
}
