// Resize: u8 HWC RGB frame -> f32 NCHW out_w x out_h, bilinear half_pixel, `scale * value + offset`, the red
// plane at `bgr ? 2 : 0` (docs/geometry.md "Resize"; src/convention.rs). Model mode builds the [1,3,2160,3840]
// tensor with it in the settled input encoding.
// Launch: 2-D grid covering out_w x out_h, one thread per output pixel, all 3 planes.
#include "geometry.cuh"

extern "C" __global__ void resize_u8_to_f32_nchw(const unsigned char* frame, int w, int h, int pitch_bytes,
                                                  float* out, int out_w, int out_h, float scale, float offset,
                                                  int bgr) {
    const int x = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    const int y = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (x >= out_w || y >= out_h) return;
    const long long plane = (long long)out_w * out_h;
    const long long at = (long long)y * out_w + x;
    const float sx = clo_half_pixel_source(x, out_w, w);
    const float sy = clo_half_pixel_source(y, out_h, h);
    for (int c = 0; c < 3; ++c) {
        const int p = bgr ? 2 - c : c;
        out[p * plane + at] = scale * clo_sample(frame, w, h, pitch_bytes, c, sy, sx) + offset;
    }
}

#ifdef CLO_CPU_SHIM
extern "C" void shim_resize(const unsigned char* frame, int w, int h, int pitch_bytes, float* out, int out_w,
                            int out_h, float scale, float offset, int bgr) {
    const dim3 block(16, 16, 1);
    const dim3 grid((out_w + 15) / 16, (out_h + 15) / 16, 1);
    clo_shim_launch(grid, block,
                    [&] { resize_u8_to_f32_nchw(frame, w, h, pitch_bytes, out, out_w, out_h, scale, offset, bgr); });
}
#endif
