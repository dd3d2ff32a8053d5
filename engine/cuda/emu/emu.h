// The CUDA device language as far as grain's kernels use it, for compiling
// kernels/*.cu as C++ in grain's CPU emulator (emu.cpp), after NVIDIA's
// headers (whose host definitions of __shared__ and friends it replaces). Every thread of a
// block runs as a fiber on one OS thread; __syncthreads switches fibers, so
// barriers work as on the GPU, and __shared__ variables (static storage)
// are shared by the block's threads because blocks run one after another.
#ifndef GRAIN_EMU_H
#define GRAIN_EMU_H

#include <cmath>
#include <cstdint>

struct emu_dim3 {
	unsigned int x, y, z;
};

// The running thread's indices, set by the scheduler before it switches to
// a fiber.
extern emu_dim3 emu_thread_idx, emu_block_idx, emu_block_dim, emu_grid_dim;
void emu_syncthreads();

#define threadIdx emu_thread_idx
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim
#define __syncthreads() emu_syncthreads()

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

using std::exp;
using std::fabs;
using std::log;
using std::sqrt;

// Round-to-nearest float arithmetic that nvcc does not contract into an
// FMA (nor does the host compiler here: x86-64 without -mfma).
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fsub_rn(float a, float b) { return a - b; }

// Fibers never run concurrently, so atomics are plain memory operations.
inline int atomicExch(int *p, int v) {
	int old = *p;
	*p = v;
	return old;
}

#endif
