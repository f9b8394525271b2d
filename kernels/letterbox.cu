// Letterbox: u8 HWC RGB frame -> f32 NCHW side x side, resize + pad + scale fused (docs/geometry.md "Letterbox").
// Launch: 2-D grid covering side x side (e.g. 16 x 16 blocks), one thread per output pixel, all 3 planes.
#include "geometry.cuh"

// frame: w x h u8 RGB, `pitch_bytes` per row. out: 3 planes of side x side f32.
// The image area [pad_left, pad_left + new_w) x [pad_top, pad_top + new_h) holds
// scale * resize(frame -> new_w x new_h); every other pixel is pad_value.
extern "C" __global__ void letterbox_u8_to_f32_nchw(const unsigned char* frame, int w, int h, int pitch_bytes,
                                                     float* out, int side, int new_w, int new_h, int pad_left,
                                                     int pad_top, float scale, float pad_value) {
    const int x = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    const int y = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (x >= side || y >= side) return;
    const long long plane = (long long)side * side;
    const long long at = (long long)y * side + x;
    const int ix = x - pad_left;
    const int iy = y - pad_top;
    if (ix < 0 || iy < 0 || ix >= new_w || iy >= new_h) {
        out[at] = pad_value;
        out[plane + at] = pad_value;
        out[2 * plane + at] = pad_value;
        return;
    }
    const float sx = clo_half_pixel_source(ix, new_w, w);
    const float sy = clo_half_pixel_source(iy, new_h, h);
    for (int c = 0; c < 3; ++c) {
        out[c * plane + at] = scale * clo_sample(frame, w, h, pitch_bytes, c, sy, sx);
    }
}

#ifdef CLO_CPU_SHIM
extern "C" void shim_letterbox(const unsigned char* frame, int w, int h, int pitch_bytes, float* out, int side,
                               int new_w, int new_h, int pad_left, int pad_top, float scale, float pad_value) {
    const dim3 block(16, 16, 1);
    const dim3 grid((side + 15) / 16, (side + 15) / 16, 1);
    clo_shim_launch(grid, block, [&] {
        letterbox_u8_to_f32_nchw(frame, w, h, pitch_bytes, out, side, new_w, new_h, pad_left, pad_top, scale,
                                 pad_value);
    });
}
#endif
