// Crop-resize: the crop box of a u8 HWC RGB frame -> f32 NCHW side x side, tf_crop_and_resize sampling times
// `scale` (docs/geometry.md "Crop-resize"). The box is read from device memory, where `best_box` (select.cu)
// wrote it, so the crop needs no host round trip.
// Launch: 2-D grid covering side x side, one thread per output pixel, all 3 planes.
#include "geometry.cuh"

// crop_box: 4 floats (x1, y1, x2, y2) in original pixels. It is ordered and clamped to the frame here as well
// (a no-op for best_box's boxes), as stages::crop::cpu::crop_resize does, so any box gives the CPU stage's result.
extern "C" __global__ void crop_resize_u8_to_f32_nchw(const unsigned char* frame, int w, int h, int pitch_bytes,
                                                       const float* crop_box, float* out, int side, float scale) {
    const int j = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    const int i = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (j >= side || i >= side) return;
    const long long plane = (long long)side * side;
    const long long at = (long long)i * side + j;
    float b[4];
    clo_ordered_clamped(crop_box[0], crop_box[1], crop_box[2], crop_box[3], w, h, b);
    const float sx = clo_crop_source(j, side, b[0], b[2]);
    const float sy = clo_crop_source(i, side, b[1], b[3]);
    for (int c = 0; c < 3; ++c) {
        out[c * plane + at] = scale * clo_sample(frame, w, h, pitch_bytes, c, sy, sx);
    }
}

#ifdef CLO_CPU_SHIM
extern "C" void shim_crop_resize(const unsigned char* frame, int w, int h, int pitch_bytes, const float* crop_box,
                                 float* out, int side, float scale) {
    const dim3 block(16, 16, 1);
    const dim3 grid((side + 15) / 16, (side + 15) / 16, 1);
    clo_shim_launch(grid, block,
                    [&] { crop_resize_u8_to_f32_nchw(frame, w, h, pitch_bytes, crop_box, out, side, scale); });
}
#endif
