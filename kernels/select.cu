// Best box: picks the best detection row on the device and maps it back to a crop box in original pixels
// (docs/geometry.md "Best box and mapping back"), so the crop kernel can read it without a host round trip.
//
// Launch: ONE block of CLO_SELECT_THREADS (256) threads (any block size from 1 to 256 is correct).
// Each thread scans rows tid, tid + blockDim.x, ... keeping its best (score, row); a shared-memory tree
// reduction then merges the per-thread bests with the same rule (higher score, then lower row index), which
// makes the result independent of the block size and equal to a sequential scan.
#include "geometry.cuh"

#define CLO_SELECT_THREADS 256

// dets: `rows` rows of (x1, y1, x2, y2, score, class), letterbox pixels.
// new_w, new_h, pad_left, pad_top: the letterbox that produced the detections; w, h: the original frame.
// crop_box_out: 4 floats (x1, y1, x2, y2) in original pixels, ordered and clamped to [0, w-1] x [0, h-1], or the
// whole frame (0, 0, w-1, h-1) when no row is a candidate. best_row_out: the best row, or -1 when none.
extern "C" __global__ void best_box(const float* dets, int rows, float score_threshold, int new_w, int new_h,
                                    int pad_left, int pad_top, int w, int h, float* crop_box_out,
                                    int* best_row_out) {
    __shared__ float s_score[CLO_SELECT_THREADS];
    __shared__ int s_row[CLO_SELECT_THREADS];
    const int tid = (int)threadIdx.x;
    const int n = clo_min_i((int)blockDim.x, CLO_SELECT_THREADS);

    float best_score = 0.0f;
    int best_row = -1;
    if (tid < n) {
        for (int r = tid; r < rows; r += n) {
            const float* row = dets + (long long)r * CLO_DET_COLS;
            if (clo_is_candidate(row, score_threshold) && clo_better(row[4], r, best_score, best_row)) {
                best_score = row[4];
                best_row = r;
            }
        }
        s_score[tid] = best_score;
        s_row[tid] = best_row;
    }
    __syncthreads();

    // Tree reduction over the n slots (n need not be a power of two): slot t merges slot t + half.
    for (int active = n; active > 1;) {
        const int half = (active + 1) / 2;
        if (tid < active - half) {
            const int o = tid + half;
            if (clo_better(s_score[o], s_row[o], s_score[tid], s_row[tid])) {
                s_score[tid] = s_score[o];
                s_row[tid] = s_row[o];
            }
        }
        __syncthreads();
        active = half;
    }

    if (tid == 0) {
        const int r = s_row[0];
        const float wmax = (float)(w - 1);
        const float hmax = (float)(h - 1);
        if (r < 0) {
            crop_box_out[0] = 0.0f;
            crop_box_out[1] = 0.0f;
            crop_box_out[2] = wmax;
            crop_box_out[3] = hmax;
        } else {
            const float* row = dets + (long long)r * CLO_DET_COLS;
            const float x1 = clo_letterbox_to_original(row[0], pad_left, w, new_w);
            const float y1 = clo_letterbox_to_original(row[1], pad_top, h, new_h);
            const float x2 = clo_letterbox_to_original(row[2], pad_left, w, new_w);
            const float y2 = clo_letterbox_to_original(row[3], pad_top, h, new_h);
            clo_ordered_clamped(x1, y1, x2, y2, w, h, crop_box_out);
        }
        *best_row_out = r;
    }
}

#ifdef CLO_CPU_SHIM
// Runs the block's threads as real threads meeting at a std::barrier for each __syncthreads (cpu_shim.h),
// so the reduction runs exactly as written. `threads` is the block size (1..=256).
extern "C" void shim_best_box(const float* dets, int rows, float score_threshold, int new_w, int new_h,
                              int pad_left, int pad_top, int w, int h, float* crop_box_out, int* best_row_out,
                              int threads) {
    clo_shim_launch_threaded(dim3(1, 1, 1), dim3((unsigned)threads, 1, 1), [&] {
        best_box(dets, rows, score_threshold, new_w, new_h, pad_left, pad_top, w, h, crop_box_out, best_row_out);
    });
}
#endif
