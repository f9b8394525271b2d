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

// Clamps `v` to [lo, hi]; a NaN becomes `lo` (fmaxf returns the non-NaN operand), so indices stay in bounds.
__device__ __forceinline__ float clo_clampf(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }

// Bilinear sample of channel `c` of a u8 HWC RGB frame (`pitch` bytes per row) at real (y, x).
//
// geometry.md "Bilinear sample": x0 = floor(x), x1 = min(x0 + 1, W - 1), wx = x - x0 (same for y),
// (1-wy)*((1-wx)*p[y0][x0] + wx*p[y0][x1]) + wy*((1-wx)*p[y1][x0] + wx*p[y1][x1]).
// The spec's callers pass coordinates already in [0, H-1] x [0, W-1]; this clamps them once more so that an
// out-of-range or NaN coordinate (a crop box from a caller, f32 rounding at the far edge) can never read out
// of bounds. For in-range coordinates the clamp is the identity.
__device__ __forceinline__ float clo_sample(const unsigned char* frame, int w, int h, int pitch, int c, float y,
                                            float x) {
    x = clo_clampf(x, 0.0f, (float)(w - 1));
    y = clo_clampf(y, 0.0f, (float)(h - 1));
    const float fx0 = floorf(x);
    const float fy0 = floorf(y);
    const int x0 = (int)fx0;
    const int y0 = (int)fy0;
    const int x1 = clo_min_i(x0 + 1, w - 1);
    const int y1 = clo_min_i(y0 + 1, h - 1);
    const float wx = x - fx0;
    const float wy = y - fy0;
    const unsigned char* r0 = frame + (long long)y0 * pitch;
    const unsigned char* r1 = frame + (long long)y1 * pitch;
    const float p00 = (float)r0[x0 * 3 + c];
    const float p01 = (float)r0[x1 * 3 + c];
    const float p10 = (float)r1[x0 * 3 + c];
    const float p11 = (float)r1[x1 * 3 + c];
    const float top = (1.0f - wx) * p00 + wx * p01;
    const float bottom = (1.0f - wx) * p10 + wx * p11;
    return (1.0f - wy) * top + wy * bottom;
}

// Source coordinate of output index `out_i` when resizing `in_size` samples to `out_size` (one axis),
// geometry.md "Resize": s = out/in (f32), src = (out_i + 0.5) / s - 0.5, clamped to [0, in - 1].
__device__ __forceinline__ float clo_half_pixel_source(int out_i, int out_size, int in_size) {
    const float s = (float)out_size / (float)in_size;
    const float src = ((float)out_i + 0.5f) / s - 0.5f;
    return clo_clampf(src, 0.0f, (float)(in_size - 1));
}

// Source coordinate of output index `i` of a `side`-sample crop of [lo, hi] (one axis),
// geometry.md "Crop-resize": lo + i * (hi - lo) / (side - 1). A 1-sample side samples `lo` (the spec leaves it
// undefined; this avoids the division by zero).
__device__ __forceinline__ float clo_crop_source(int i, int side, float lo, float hi) {
    if (side <= 1) return lo;
    return lo + ((float)i * (hi - lo)) / (float)(side - 1);
}

// Letterbox pixels -> original pixels (one axis), geometry.md "Best box and mapping back":
// (v - pad) * size / new_size. Computed in f64 and rounded once to f32: the mapped coordinate then does not
// depend on how the product is ordered (a 1-ulp shift of a 3840-wide coordinate moves the crop by 2.4e-4 px).
__device__ __forceinline__ float clo_letterbox_to_original(float v, int pad, int size, int new_size) {
    return (float)(((double)v - (double)pad) * (double)size / (double)new_size);
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
