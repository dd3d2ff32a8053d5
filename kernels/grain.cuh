// Shared definitions of grain's CUDA kernels (the .cu files beside this).
//
// Conventions, for every kernel:
//   - Matrices are dense row-major; a tensor view is a pointer to its first
//     element. Element counts and row offsets are 64-bit (long long).
//   - Kernels are written for any grid: they loop with grid strides, so the
//     launcher (engine/cuda) picks grid sizes for speed, not correctness.
//   - Reductions that produce sums accumulate in double and combine partial
//     results in a fixed order, so results do not depend on scheduling.
//   - Selecting reductions use the total order of grain_beats below, which
//     reproduces the sequential scan of the CPU reference (kernels/reduce.go)
//     including its treatment of NaN.
//   - Kernels that find invalid input (an index or label out of range) set
//     a flag in host-mapped memory instead of reading out of bounds; the
//     backend turns it into an error at the next synchronisation.
//
// The same sources compile as C++ for grain's CPU emulation of the CUDA
// driver (engine/cuda/emu), which runs the conformance suite without a GPU;
// so they use only portable C++ and the CUDA built-ins that the emulator
// provides (thread/block indices, __syncthreads, __shared__, atomicExch).
#ifndef GRAIN_CUH
#define GRAIN_CUH

#define GRAIN_KERNEL extern "C" __global__ void
// GRAIN_KERNEL_BOUNDED(threads, blocks) is GRAIN_KERNEL for a kernel that is
// always launched with `threads` threads per block, asking the compiler to
// fit `blocks` blocks on a multiprocessor (__launch_bounds__: at most
// 65536/(threads·blocks) registers per thread).
#define GRAIN_KERNEL_BOUNDED(threads, blocks) extern "C" __global__ void __launch_bounds__(threads, blocks)

// Flag slots in the host-mapped error word array (engine/cuda/flags.go).
#define GRAIN_FLAG_GATHER_INDEX 0
#define GRAIN_FLAG_LABEL 1
#define GRAIN_FLAG_ID 2
#define GRAIN_FLAG_LENGTH 3

// Operations of ReduceRows/ReduceCols (engine.ReduceOp).
#define GRAIN_MAX 0
#define GRAIN_MIN 1
#define GRAIN_MAXABS 2
#define GRAIN_MINABS 3

// Thread layout of the reduction kernels (engine/cuda/launch.go uses the
// same numbers).
#define GRAIN_REDUCE_THREADS 256

// Grid-stride loops over n elements.
#define GRAIN_FOR(i, n)                                                                  \
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);          \
	     i += (long long)blockDim.x * gridDim.x)

// Loops over the columns (x) and rows (y) of a rows×cols matrix with a 2-D
// grid of 2-D blocks: each thread owns one column per row it visits.
#define GRAIN_FOR_COL(c, cols) \
	for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < (cols); c += (long long)blockDim.x * gridDim.x)
#define GRAIN_FOR_ROW(r, rows) \
	for (long long r = (long long)blockIdx.y * blockDim.y + threadIdx.y; r < (rows); r += (long long)blockDim.y * gridDim.y)

// grain_map_column sets d[r, c] = f(x[r, c]) for the rows r of column c
// that this thread visits (GRAIN_FOR_ROW's stride), four rows per step with
// all four loads issued before the stores: d may alias x, so the compiler
// would otherwise wait for each store before the next load, leaving one
// load in flight per thread.
template <typename F>
__device__ __forceinline__ void grain_map_column(float *d, const float *x, long long rows, long long cols, long long c,
                                                 F f) {
	long long step = (long long)blockDim.y * gridDim.y;
	long long r = (long long)blockIdx.y * blockDim.y + threadIdx.y;
	for (; r + 3 * step < rows; r += 4 * step) {
		float v0 = x[r * cols + c], v1 = x[(r + step) * cols + c];
		float v2 = x[(r + 2 * step) * cols + c], v3 = x[(r + 3 * step) * cols + c];
		d[r * cols + c] = f(v0);
		d[(r + step) * cols + c] = f(v1);
		d[(r + 2 * step) * cols + c] = f(v2);
		d[(r + 3 * step) * cols + c] = f(v3);
	}
	for (; r < rows; r += step)
		d[r * cols + c] = f(x[r * cols + c]);
}

// grain_block_reduce, grain_block_max and grain_block_sum reduce v over the block (blockDim.x
// a power of two ≤ GRAIN_REDUCE_THREADS) in a fixed tree order and return
// the result to every thread. Every thread of the block must call them;
// they end with a barrier, so they may be called again at once.
template <typename T, typename F> __device__ __forceinline__ T grain_block_reduce(T v, F combine) {
	__shared__ T s[GRAIN_REDUCE_THREADS];
	int t = threadIdx.x;
	s[t] = v;
	__syncthreads();
	for (int h = blockDim.x / 2; h > 0; h /= 2) {
		if (t < h)
			s[t] = combine(s[t], s[t + h]);
		__syncthreads();
	}
	T r = s[0];
	__syncthreads();
	return r;
}

__device__ __forceinline__ float grain_block_max(float v) {
	return grain_block_reduce(v, [](float a, float b) { return fmaxf(a, b); });
}

__device__ __forceinline__ double grain_block_sum(double v) {
	return grain_block_reduce(v, [](double a, double b) { return a + b; });
}

// Loops over the row chunks of a two-stage column reduction (grid y).
#define GRAIN_FOR_CHUNK(ch, chunks) for (long long ch = blockIdx.y; ch < (chunks); ch += gridDim.y)

__device__ __forceinline__ unsigned int grain_bits(float x) {
	union {
		float f;
		unsigned int u;
	} v;
	v.f = x;
	return v.u;
}

__device__ __forceinline__ float grain_float(unsigned int u) {
	union {
		float f;
		unsigned int u;
	} v;
	v.u = u;
	return v.f;
}

// grain_row_sumexp returns S = Σ_j ex(row[j] − mx) over the k columns of
// a row, with mx = max_j row[j] stored in *mx, the sum in double, reduced
// over the block (one block per row; every thread gets both). ex is the
// exponential, returning double (softmax kernels differ in its precision).
template <typename E>
__device__ __forceinline__ double grain_row_sumexp(const float *row, long long k, float *mx, E ex) {
	int t = threadIdx.x;
	float m = grain_float(0xff800000u); // −Inf
	for (long long j = t; j < k; j += blockDim.x)
		m = fmaxf(m, row[j]);
	m = grain_block_max(m);
	double sum = 0;
	for (long long j = t; j < k; j += blockDim.x)
		sum += ex(row[j] - m);
	*mx = m;
	return grain_block_sum(sum);
}

// grain_round_mantissa keeps the top 23−drop mantissa bits of x, rounding
// to nearest with ties to even; NaN and ±Inf are kept and overflow rounds
// to Inf (kernels.roundMantissa).
__device__ __forceinline__ float grain_round_mantissa(float x, unsigned int drop) {
	unsigned int b = grain_bits(x);
	if ((b & 0x7f800000u) == 0x7f800000u)
		return x;
	b += ((1u << (drop - 1)) - 1) + ((b >> drop) & 1u);
	return grain_float(b & ~((1u << drop) - 1));
}

// grain_beats reports whether candidate (c, ci) beats (b, bi) under op in
// the total order that makes a tree reduction equal the CPU's scan "start
// with element 0; replace the best only by a strictly better element":
// element 0 being NaN wins outright (the scan never replaces it), any other
// NaN loses to everything (it is never better), other values compare by
// their key (the value, its negation, or ±|value|), and ties go to the
// lower index.
__device__ __forceinline__ int grain_class(float v, long long i) {
	if (v != v)
		return i == 0 ? 2 : 0;
	return 1;
}

__device__ __forceinline__ float grain_key(int op, float v) {
	switch (op) {
	case GRAIN_MAX:
		return v;
	case GRAIN_MIN:
		return -v;
	case GRAIN_MAXABS:
		return fabsf(v);
	default:
		return -fabsf(v);
	}
}

__device__ __forceinline__ bool grain_beats(int op, float c, long long ci, float b, long long bi) {
	int cc = grain_class(c, ci), cb = grain_class(b, bi);
	if (cc != cb)
		return cc > cb;
	if (cc == 1) {
		float kc = grain_key(op, c), kb = grain_key(op, b);
		if (kc != kb)
			return kc > kb;
	}
	return ci < bi;
}

#endif
