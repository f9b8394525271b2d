// CPU shim: compiles the kernels in this folder as plain C++20 (g++ -std=c++20 -DCLO_CPU_SHIM) so the very
// same source runs on a machine without a GPU (tests/kernels/kernels_cpu_shim.rs builds them into a shared library).
//
// - `__global__`, `__device__`, `__forceinline__` become nothing / `inline`; `__shared__` becomes `static`,
//   so all "threads" of a block see one copy (the launcher serialises launches that use it, see below).
// - `threadIdx`, `blockIdx`, `blockDim`, `gridDim` are thread_local globals the launchers set.
// - clo_shim_launch(grid, block, f): runs every thread of every block sequentially on the calling thread.
//   Correct for kernels whose threads do not communicate (letterbox, resize, crop); `__syncthreads()` there
//   aborts, because a sequential loop cannot honour it.
// - clo_shim_launch_threaded(grid, block, f): for kernels that use shared memory and `__syncthreads()`
//   (select.cu's reduction). Each block's threads run as real std::threads; `__syncthreads()` is
//   `std::barrier::arrive_and_wait()` on the block's barrier, so every thread finishes the phase before any
//   thread starts the next, exactly the CUDA semantics the reduction relies on. Blocks run one after another
//   (the `static` shared memory is reused), and a process-wide mutex serialises such launches, because the
//   `static` shared arrays are one per process.
#ifndef CLO_CPU_SHIM_H
#define CLO_CPU_SHIM_H

#include <math.h>

#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local dim3 threadIdx(0, 0, 0);
inline thread_local dim3 blockIdx(0, 0, 0);
inline thread_local dim3 blockDim(1, 1, 1);
inline thread_local dim3 gridDim(1, 1, 1);
// The barrier of the block this thread belongs to; null under the sequential launcher.
inline thread_local std::barrier<>* clo_shim_block_barrier = nullptr;

inline void __syncthreads() {
    if (clo_shim_block_barrier == nullptr) {
        std::fputs("cpu_shim: __syncthreads() under clo_shim_launch; use clo_shim_launch_threaded\n", stderr);
        std::abort();
    }
    clo_shim_block_barrier->arrive_and_wait();
}

// Runs kernel body `f` for every (block, thread) of the launch, sequentially.
template <class F>
void clo_shim_launch(dim3 grid, dim3 block, F&& f) {
    gridDim = grid;
    blockDim = block;
    clo_shim_block_barrier = nullptr;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = dim3(bx, by, bz);
                for (unsigned tz = 0; tz < block.z; ++tz)
                    for (unsigned ty = 0; ty < block.y; ++ty)
                        for (unsigned tx = 0; tx < block.x; ++tx) {
                            threadIdx = dim3(tx, ty, tz);
                            f();
                        }
            }
}

inline std::mutex& clo_shim_threaded_mutex() {
    static std::mutex m;
    return m;
}

// Runs kernel body `f` with each block's threads as real threads meeting at a barrier on __syncthreads().
template <class F>
void clo_shim_launch_threaded(dim3 grid, dim3 block, F&& f) {
    std::lock_guard<std::mutex> lock(clo_shim_threaded_mutex());
    const unsigned n = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                std::barrier<> barrier((std::ptrdiff_t)n);
                std::vector<std::thread> threads;
                threads.reserve(n);
                for (unsigned t = 0; t < n; ++t) {
                    threads.emplace_back([&, t, bx, by, bz] {
                        gridDim = grid;
                        blockDim = block;
                        blockIdx = dim3(bx, by, bz);
                        threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
                        clo_shim_block_barrier = &barrier;
                        f();
                    });
                }
                for (auto& th : threads) th.join();
            }
}

#endif  // CLO_CPU_SHIM_H
