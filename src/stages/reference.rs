//! The spec (`docs/geometry.md`) written out again, per pixel, for the stages' tests: every fast path is
//! compared against these slow references. `*_ref32` use the spec's `f32` arithmetic and must agree bit for
//! bit; `*64` do the blend and scaling in `f64` (coordinates stay `f32`, as the spec defines them) and must
//! agree within 1e-6 on the 0..1 scale (`1e-6 * 255 * scale` in output units).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub(crate) fn unit(state: &mut u64) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 40) as f32 / (1u64 << 24) as f32
}

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn frame(&mut self, w: u32, h: u32) -> Vec<u8> {
        (0..w as usize * h as usize * 3).map(|_| (self.next() >> 56) as u8).collect()
    }
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

pub(crate) fn p(frame: &[u8], w: u32, c: usize, y: usize, x: usize) -> u8 {
    frame[(y * w as usize + x) * 3 + c]
}

/// `sample(img, c, y, x)` of the spec, `f32`.
pub(crate) fn sample32(frame: &[u8], w: u32, h: u32, c: usize, y: f32, x: f32) -> f32 {
    let x0 = x.floor() as usize;
    let x1 = (x0 + 1).min(w as usize - 1);
    let wx = x - x0 as f32;
    let y0 = y.floor() as usize;
    let y1 = (y0 + 1).min(h as usize - 1);
    let wy = y - y0 as f32;
    let q = |yy, xx| p(frame, w, c, yy, xx) as f32;
    (1.0 - wy) * ((1.0 - wx) * q(y0, x0) + wx * q(y0, x1)) + wy * ((1.0 - wx) * q(y1, x0) + wx * q(y1, x1))
}

/// The same sample with the blend in `f64`.
pub(crate) fn sample64(frame: &[u8], w: u32, h: u32, c: usize, y: f32, x: f32) -> f64 {
    let (x, y) = (f64::from(x), f64::from(y));
    let x0 = x.floor() as usize;
    let x1 = (x0 + 1).min(w as usize - 1);
    let wx = x - x0 as f64;
    let y0 = y.floor() as usize;
    let y1 = (y0 + 1).min(h as usize - 1);
    let wy = y - y0 as f64;
    let q = |yy, xx| f64::from(p(frame, w, c, yy, xx));
    (1.0 - wy) * ((1.0 - wx) * q(y0, x0) + wx * q(y0, x1)) + wy * ((1.0 - wx) * q(y1, x0) + wx * q(y1, x1))
}

/// The spec's half-pixel source coordinate, written out again.
pub(crate) fn half_pixel(o: usize, src: u32, dst: u32) -> f32 {
    let s = dst as f32 / src as f32;
    let x = (o as f32 + 0.5) / s - 0.5;
    x.max(0.0).min((src - 1) as f32)
}

/// `1e-6 * 255 * scale` in output units) with the f64 one.
pub(crate) fn assert_matches(what: &str, got: &[f32], r32: &[f32], r64: &[f64], scale: f32) {
    let tol = 1e-6 * 255.0 * f64::from(scale);
    assert_eq!(got.len(), r32.len(), "{what}: length");
    for (i, ((&g, &a), &b)) in got.iter().zip(r32).zip(r64).enumerate() {
        assert_eq!(g.to_bits(), a.to_bits(), "{what}: value {i}: {g} vs reference {a}");
        assert!((f64::from(g) - b).abs() <= tol, "{what}: value {i}: {g} vs f64 reference {b}");
    }
}
