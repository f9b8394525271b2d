// Shared device math of the CLO pipeline's image stages: a line-for-line transcription of docs/geometry.md.
//
// Everything is computed in f32 in the order the spec writes it, so that the kernels, the CPU shim build of
// these same files, and the crate's native CPU stages agree to f32 rounding. Compile the kernels with
// `--fmad=false` (src/cuda/nvrtc.rs does) so NVCC does not contract `a*b + c` into an FMA: the GPU then rounds
// exactly like the CPU build.
//
// This header needs no CUDA headers: under NVRTC `floorf`, `fminf`, `fmaxf` and `isfinite` are built in; as
// plain C++ (kernels/cpu_shim.h, with CLO_CPU_SHIM defined) they come from <math.h>.
#ifndef CLO_GEOMETRY_CUH
#define CLO_GEOMETRY_CUH

#ifdef CLO_CPU_SHIM
#include "cpu_shim.h"
#endif

// Values per detection row: (x1, y1, x2, y2, score, class).
#define CLO_DET_COLS 6

__device__ __forceinline__ int clo_min_i(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int clo_max_i(int a, int b) { return a > b ? a : b; }

// Clamps `v` to [lo, hi]; a NaN becomes `lo` (fmaxf returns the non-NaN operand).
__device__ __forceinline__ float clo_clampf(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }

// One axis of a bilinear tap (stages::AxisTap): i0 = floor(x), i1 = min(i0 + 1, len - 1), frac = x - floor(x).
// The spec's callers pass x already in [0, len - 1]; outside it (or NaN) the indices are clamped to the axis
// (a NaN or negative floor gives 0, as Rust's saturating `as u32` does), so no read is ever out of bounds.
struct CloTap {
    int i0;
    int i1;
    float frac;
};

__device__ __forceinline__ CloTap clo_axis_tap(float x, int len) {
    const int last = len - 1;
    const float xf = floorf(x);
    // NaN fails both comparisons and gives 0; the (int) conversion only sees values in (0, last).
    const int i0 = xf >= (float)last ? last : (xf > 0.0f ? (int)xf : 0);
    CloTap t;
    t.i0 = i0;
    t.i1 = clo_min_i(i0 + 1, last);
    t.frac = x - xf;
    return t;
}

// Bilinear sample of channel `c` of a u8 HWC RGB frame (`pitch` bytes per row) at real (y, x).
//
// geometry.md "Bilinear sample": (1-wy)*((1-wx)*p[y0][x0] + wx*p[y0][x1]) + wy*((1-wx)*p[y1][x0] + wx*p[y1][x1]),
// in f32, in this order (stages::bilinear).
__device__ __forceinline__ float clo_sample(const unsigned char* frame, int w, int h, int pitch, int c, float y,
                                            float x) {
    const CloTap tx = clo_axis_tap(x, w);
    const CloTap ty = clo_axis_tap(y, h);
    const unsigned char* r0 = frame + (long long)ty.i0 * pitch;
    const unsigned char* r1 = frame + (long long)ty.i1 * pitch;
    const float p00 = (float)r0[tx.i0 * 3 + c];
    const float p01 = (float)r0[tx.i1 * 3 + c];
    const float p10 = (float)r1[tx.i0 * 3 + c];
    const float p11 = (float)r1[tx.i1 * 3 + c];
    const float wx = tx.frac;
    const float wy = ty.frac;
    return (1.0f - wy) * ((1.0f - wx) * p00 + wx * p01) + wy * ((1.0f - wx) * p10 + wx * p11);
}

// Source coordinate of output index `out_i` when resizing `in_size` samples to `out_size` (one axis),
// geometry.md "Resize": s = out/in (f32), src = (out_i + 0.5) / s - 0.5, clamped to [0, in - 1].
__device__ __forceinline__ float clo_half_pixel_source(int out_i, int out_size, int in_size) {
    const float s = (float)out_size / (float)in_size;
    const float src = ((float)out_i + 0.5f) / s - 0.5f;
    return clo_clampf(src, 0.0f, (float)(in_size - 1));
}

// Source coordinate of output index `i` of a `side`-sample crop of [lo, hi] (one axis),
// geometry.md "Crop-resize": lo + i * (hi - lo) / (side - 1), left to right. A 1-sample side samples the
// middle, 0.5 * (lo + hi), as ONNX does (stages::crop_source).
__device__ __forceinline__ float clo_crop_source(int i, int side, float lo, float hi) {
    if (side <= 1) return 0.5f * (lo + hi);
    return lo + ((float)i * (hi - lo)) / (float)(side - 1);
}

// Letterbox pixels -> original pixels (one axis), geometry.md "Best box and mapping back":
// (v - pad) * size / new_size, in f32, left to right (stages::Letterbox::to_original). The order
// matters at the 1e-4 level: one ulp of a 3840-wide coordinate moves the crop's samples by 2.4e-4 px.
__device__ __forceinline__ float clo_letterbox_to_original(float v, int pad, int size, int new_size) {
    return (v - (float)pad) * (float)size / (float)new_size;
}

// Orders the corners of a box and clamps them to [0, w-1] x [0, h-1] (stages::CropBox::ordered_clamped):
// x1 = min(ax, bx), x2 = max(ax, bx), same for y; fminf/fmaxf ignore one NaN, a NaN left over clamps to 0.
__device__ __forceinline__ void clo_ordered_clamped(float ax, float ay, float bx, float by, int w, int h,
                                                    float* out) {
    const float wmax = (float)(w - 1);
    const float hmax = (float)(h - 1);
    out[0] = clo_clampf(fminf(ax, bx), 0.0f, wmax);
    out[1] = clo_clampf(fminf(ay, by), 0.0f, hmax);
    out[2] = clo_clampf(fmaxf(ax, bx), 0.0f, wmax);
    out[3] = clo_clampf(fmaxf(ay, by), 0.0f, hmax);
}

// A detection row is a candidate when its four coordinates and its score are finite and score >= threshold.
__device__ __forceinline__ bool clo_is_candidate(const float* row, float score_threshold) {
    return isfinite(row[0]) && isfinite(row[1]) && isfinite(row[2]) && isfinite(row[3]) && isfinite(row[4]) &&
           row[4] >= score_threshold;
}

// Whether candidate (score a, row ia) beats (score b, row ib): higher score, then lower row index.
// Row -1 means "no candidate" and loses to everything.
__device__ __forceinline__ bool clo_better(float a, int ia, float b, int ib) {
    if (ia < 0) return false;
    if (ib < 0) return true;
    return a > b || (a == b && ia < ib);
}

#endif  // CLO_GEOMETRY_CUH
