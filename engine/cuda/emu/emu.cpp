// grain's CPU emulation of the CUDA driver and cuBLAS: the part of both
// APIs that engine/cuda uses, implemented on the host so that the CUDA
// backend's Go code and grain's kernels (kernels/*.cu, compiled here as C++
// with emu.h) run the conformance suite on machines without a GPU. The
// tests load it in place of the real libraries through GRAIN_LIBCUDA and
// GRAIN_CUBLAS (see engine/cuda/stub/grain_stub.h).
//
// What it checks beyond computing results:
//   - kernel launches: grid and block limits of a real device, kernel names
//     present in the loaded PTX, pointer arguments inside live allocations,
//     and __syncthreads reached by all threads of a block or by none;
//   - memory: copies inside allocations, guard bytes around every
//     allocation (an out-of-bounds write fails the next call with
//     CUDA_ERROR_ILLEGAL_ADDRESS, sticky as on a GPU), a memory limit
//     (GRAIN_EMU_MEMORY bytes, default 4 GiB) for out-of-memory paths;
//   - GRAIN_EMU_ORDER=reverse runs the threads of a block in reverse order
//     between barriers: a kernel whose result changes with the order reads
//     shared data without the barrier it needs;
//   - GRAIN_EMU_FAIL_LAUNCH=N makes the N-th launch fail with
//     CUDA_ERROR_LAUNCH_FAILED, after which every call fails (sticky).
//
// cuBLAS: cublasGemmEx and cublasGemmStridedBatchedEx on float32 or
// bfloat16 inputs with float32 output, accumulated in double. The FAST
// compute types do not round the inputs, as when cuBLAS picks a kernel
// without tensor cores: the backend's own input rounding is what the
// precision tests then see.
//
// Everything runs synchronously on the calling thread under one lock;
// streams and events only keep order and time.
#include <cuda.h>
#include <cublas_v2.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <ucontext.h>
#include <utility>
#include <vector>

#include "emu.h"

// ---- the kernels ----------------------------------------------------------

#include "../../../kernels/adam.cu"
#include "../../../kernels/elementwise.cu"
#include "../../../kernels/nn.cu"
#include "../../../kernels/reduce.cu"
#include "../../../kernels/round.cu"

emu_dim3 emu_thread_idx, emu_block_idx, emu_block_dim, emu_grid_dim;

namespace {

std::recursive_mutex mu;
CUresult sticky = CUDA_SUCCESS; // a failed launch or memory fault
long launches = 0;

// ---- memory ---------------------------------------------------------------

const size_t kGuard = 256;
const unsigned char kPattern = 0xa5;

struct Alloc {
	size_t size;
	bool host; // page-locked host memory (cuMemHostAlloc)
};
std::map<uintptr_t, Alloc> allocs; // by user address
size_t used = 0;

size_t limit() {
	const char *s = getenv("GRAIN_EMU_MEMORY");
	return s ? strtoull(s, nullptr, 10) : (size_t)4 << 30;
}

void *emu_alloc(size_t n, bool host) {
	unsigned char *raw = (unsigned char *)malloc(n + 2 * kGuard);
	if (!raw)
		return nullptr;
	memset(raw, kPattern, kGuard);
	memset(raw + kGuard + n, kPattern, kGuard);
	memset(raw + kGuard, 0xcd, n); // not zero: Alloc must clear it
	allocs[(uintptr_t)(raw + kGuard)] = Alloc{n, host};
	return raw + kGuard;
}

void emu_free(uintptr_t p) {
	allocs.erase(p);
	free((unsigned char *)p - kGuard);
}

// inside reports whether [p, p+n) lies in one live allocation.
bool inside(uintptr_t p, size_t n) {
	auto it = allocs.upper_bound(p);
	if (it == allocs.begin())
		return false;
	--it;
	return p >= it->first && p + n <= it->first + it->second.size;
}

// guards_ok checks every allocation's guard bytes.
bool guards_ok() {
	for (auto &a : allocs) {
		const unsigned char *u = (const unsigned char *)a.first;
		for (size_t i = 0; i < kGuard; i++)
			if (u[-1 - (long)i] != kPattern || u[a.second.size + i] != kPattern) {
				fprintf(stderr, "grain emu: out-of-bounds write around allocation %p (%zu bytes)\n", (void *)u,
				        a.second.size);
				return false;
			}
	}
	return true;
}

CUresult check_after() {
	if (sticky == CUDA_SUCCESS && !guards_ok())
		sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
	return sticky;
}

// ---- fibers ---------------------------------------------------------------

enum { RUN, BARRIER, DONE };
struct Fiber {
	ucontext_t ctx;
	int state;
	emu_dim3 idx;
};
const size_t kStack = 128 << 10;
std::vector<Fiber> fibers;
std::vector<char *> stacks;
ucontext_t sched;
int cur;
void (*cur_run)(void *, void **);
void *cur_kernel;
void **cur_params;

void fiber_main() {
	cur_run(cur_kernel, cur_params);
	fibers[cur].state = DONE;
}

// run_block runs the threads of one block to completion, switching fibers
// at barriers; it returns false when some threads finished while others
// wait at a barrier (a deadlock on a GPU).
bool run_block(unsigned nthreads) {
	if (fibers.size() < nthreads)
		fibers.resize(nthreads);
	while (stacks.size() < nthreads)
		stacks.push_back((char *)malloc(kStack));
	unsigned bx = emu_block_dim.x, by = emu_block_dim.y;
	for (unsigned t = 0; t < nthreads; t++) {
		Fiber &f = fibers[t];
		getcontext(&f.ctx);
		f.ctx.uc_stack.ss_sp = stacks[t];
		f.ctx.uc_stack.ss_size = kStack;
		f.ctx.uc_link = &sched;
		makecontext(&f.ctx, fiber_main, 0);
		f.state = RUN;
		f.idx = emu_dim3{t % bx, (t / bx) % by, t / (bx * by)};
	}
	static const bool reverse = getenv("GRAIN_EMU_ORDER") && strcmp(getenv("GRAIN_EMU_ORDER"), "reverse") == 0;
	for (;;) {
		for (unsigned u = 0; u < nthreads; u++) {
			unsigned t = reverse ? nthreads - 1 - u : u;
			if (fibers[t].state != RUN)
				continue;
			cur = (int)t;
			emu_thread_idx = fibers[t].idx;
			swapcontext(&sched, &fibers[t].ctx);
		}
		unsigned done = 0, waiting = 0;
		for (unsigned t = 0; t < nthreads; t++) {
			done += fibers[t].state == DONE;
			waiting += fibers[t].state == BARRIER;
		}
		if (done == nthreads)
			return true;
		if (done > 0)
			return false;
		for (unsigned t = 0; t < nthreads; t++)
			fibers[t].state = RUN;
	}
}

// ---- kernel table -----------------------------------------------------------

template <typename T> bool arg_ok(const T &) { return true; }
template <typename T> bool arg_ok(T *const &p) { return p == nullptr || inside((uintptr_t)p, 1); }

template <typename... A, size_t... I> bool args_ok(void **p, std::index_sequence<I...>) {
	return (arg_ok(*static_cast<std::remove_cv_t<A> *>(p[I])) && ...);
}

template <typename... A> struct Invoker {
	template <size_t... I> static void call(void (*k)(A...), void **p, std::index_sequence<I...>) {
		k(*static_cast<std::remove_cv_t<A> *>(p[I])...);
	}
	static void run(void *k, void **p) { call((void (*)(A...))k, p, std::index_sequence_for<A...>{}); }
	static bool check(void **p) { return args_ok<A...>(p, std::index_sequence_for<A...>{}); }
};

template <typename... A> Invoker<A...> invoker(void (*)(A...)) { return {}; }

struct Kernel {
	const char *name;
	void *fn;
	void (*run)(void *, void **);
	bool (*check)(void **);
};

#define K(f) {#f, (void *)&f, decltype(invoker(&f))::run, decltype(invoker(&f))::check},
const Kernel kernels[] = {
#include "kernels.inc"
};

struct Module {
	std::string ptx;
};
struct Event {
	std::chrono::steady_clock::time_point t;
};

} // namespace

void emu_syncthreads() {
	fibers[cur].state = BARRIER;
	swapcontext(&fibers[cur].ctx, &sched);
}

// ---- the driver API -------------------------------------------------------------

#define LOCK std::lock_guard<std::recursive_mutex> lock(mu)
#define STICKY                                                                                                         \
	do {                                                                                                           \
		if (sticky != CUDA_SUCCESS)                                                                            \
			return sticky;                                                                                 \
	} while (0)

extern "C" {

CUresult cuInit(unsigned int) { return CUDA_SUCCESS; }
CUresult cuDriverGetVersion(int *v) {
	*v = 11080;
	return CUDA_SUCCESS;
}
CUresult cuDeviceGetCount(int *n) {
	*n = 1;
	return CUDA_SUCCESS;
}
CUresult cuDeviceGet(CUdevice *d, int ordinal) {
	if (ordinal != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	*d = 0;
	return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice) {
	snprintf(name, len, "grain CPU emulator");
	return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem(size_t *bytes, CUdevice) {
	*bytes = limit();
	return CUDA_SUCCESS;
}
CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice) {
	switch (a) {
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
		*v = 2;
		break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
		*v = 9;
		break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
		*v = 0;
		break;
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
		*v = 1024;
		break;
	case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING:
	case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY:
		*v = 1;
		break;
	default:
		*v = 0;
	}
	return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice) {
	static int ctx;
	*c = (CUcontext)&ctx;
	return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease(CUdevice) { return CUDA_SUCCESS; }
CUresult cuCtxSetCurrent(CUcontext) { return CUDA_SUCCESS; }
CUresult cuCtxSynchronize() {
	LOCK;
	return sticky;
}
CUresult cuMemGetInfo(size_t *free_, size_t *total) {
	LOCK;
	*total = limit();
	*free_ = used < *total ? *total - used : 0;
	return CUDA_SUCCESS;
}

CUresult cuMemAlloc(CUdeviceptr *p, size_t n) {
	LOCK;
	STICKY;
	if (n == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (used + n > limit())
		return CUDA_ERROR_OUT_OF_MEMORY;
	void *q = emu_alloc(n, false);
	if (!q)
		return CUDA_ERROR_OUT_OF_MEMORY;
	used += n;
	*p = (CUdeviceptr)q;
	return CUDA_SUCCESS;
}
CUresult cuMemFree(CUdeviceptr p) {
	LOCK;
	auto it = allocs.find((uintptr_t)p);
	if (it == allocs.end() || it->second.host)
		return CUDA_ERROR_INVALID_VALUE;
	CUresult r = check_after(); // a fault in this buffer must not vanish with it
	used -= it->second.size;
	emu_free((uintptr_t)p);
	return r;
}
CUresult cuMemHostAlloc(void **p, size_t n, unsigned int) {
	LOCK;
	*p = emu_alloc(n ? n : 1, true);
	return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
CUresult cuMemHostGetDevicePointer(CUdeviceptr *d, void *p, unsigned int) {
	LOCK;
	if (!inside((uintptr_t)p, 1))
		return CUDA_ERROR_INVALID_VALUE;
	*d = (CUdeviceptr)p;
	return CUDA_SUCCESS;
}
CUresult cuMemFreeHost(void *p) {
	LOCK;
	auto it = allocs.find((uintptr_t)p);
	if (it == allocs.end() || !it->second.host)
		return CUDA_ERROR_INVALID_VALUE;
	emu_free((uintptr_t)p);
	return CUDA_SUCCESS;
}

static CUresult copy(void *dst, const void *src, size_t n, bool dstDev, bool srcDev) {
	LOCK;
	STICKY;
	if (n == 0)
		return CUDA_SUCCESS;
	if ((dstDev && !inside((uintptr_t)dst, n)) || (srcDev && !inside((uintptr_t)src, n))) {
		fprintf(stderr, "grain emu: copy of %zu bytes outside an allocation (dst %p, src %p)\n", n, dst, src);
		return CUDA_ERROR_INVALID_VALUE;
	}
	memmove(dst, src, n);
	return CUDA_SUCCESS;
}
CUresult cuMemcpyHtoD(CUdeviceptr d, const void *s, size_t n) { return copy((void *)d, s, n, true, false); }
CUresult cuMemcpyDtoH(void *d, CUdeviceptr s, size_t n) { return copy(d, (void *)s, n, false, true); }
CUresult cuMemcpyDtoD(CUdeviceptr d, CUdeviceptr s, size_t n) { return copy((void *)d, (void *)s, n, true, true); }
CUresult cuMemcpyHtoDAsync(CUdeviceptr d, const void *s, size_t n, CUstream) {
	return copy((void *)d, s, n, true, false);
}
CUresult cuMemcpyDtoHAsync(void *d, CUdeviceptr s, size_t n, CUstream) {
	return copy(d, (void *)s, n, false, true);
}
CUresult cuMemcpyDtoDAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream) {
	return copy((void *)d, (void *)s, n, true, true);
}
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream) {
	LOCK;
	STICKY;
	if (n && !inside((uintptr_t)d, n))
		return CUDA_ERROR_INVALID_VALUE;
	memset((void *)d, v, n);
	return CUDA_SUCCESS;
}

CUresult cuStreamCreate(CUstream *s, unsigned int) {
	*s = (CUstream) new int(0);
	return CUDA_SUCCESS;
}
CUresult cuStreamDestroy(CUstream s) {
	delete (int *)s;
	return CUDA_SUCCESS;
}
CUresult cuStreamSynchronize(CUstream) {
	LOCK;
	return check_after();
}
CUresult cuStreamWaitEvent(CUstream, CUevent, unsigned int) {
	LOCK;
	return sticky;
}
CUresult cuEventCreate(CUevent *e, unsigned int) {
	*e = (CUevent) new Event{std::chrono::steady_clock::now()};
	return CUDA_SUCCESS;
}
CUresult cuEventDestroy(CUevent e) {
	delete (Event *)e;
	return CUDA_SUCCESS;
}
CUresult cuEventRecord(CUevent e, CUstream) {
	LOCK;
	((Event *)e)->t = std::chrono::steady_clock::now();
	return sticky;
}
CUresult cuEventQuery(CUevent) {
	LOCK;
	return sticky;
}
CUresult cuEventSynchronize(CUevent) {
	LOCK;
	return check_after();
}
CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) {
	*ms = std::chrono::duration<float, std::milli>(((Event *)b)->t - ((Event *)a)->t).count();
	return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule *m, const void *image) {
	const char *s = (const char *)image;
	if (!strstr(s, ".version") || !strstr(s, ".target"))
		return CUDA_ERROR_INVALID_IMAGE;
	*m = (CUmodule) new Module{s};
	return CUDA_SUCCESS;
}
CUresult cuModuleUnload(CUmodule m) {
	delete (Module *)m;
	return CUDA_SUCCESS;
}
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
	std::string entry = std::string(".entry ") + name + "(";
	if (((Module *)m)->ptx.find(entry) == std::string::npos)
		return CUDA_ERROR_NOT_FOUND;
	for (const Kernel &k : kernels)
		if (strcmp(k.name, name) == 0) {
			*f = (CUfunction)&k;
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_NOT_FOUND;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, CUstream, void **params, void **extra) {
	LOCK;
	STICKY;
	const Kernel *k = (const Kernel *)f;
	if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || gy > 65535 || gz > 65535 ||
	    (unsigned long long)bx * by * bz > 1024 || bz > 64 || shared > 48 * 1024 || extra) {
		fprintf(stderr, "grain emu: %s: bad launch grid (%u,%u,%u) block (%u,%u,%u)\n", k->name, gx, gy, gz, bx,
		        by, bz);
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (!k->check(params)) {
		fprintf(stderr, "grain emu: %s: a pointer argument is outside every allocation\n", k->name);
		return CUDA_ERROR_INVALID_VALUE;
	}
	const char *fail = getenv("GRAIN_EMU_FAIL_LAUNCH");
	if (fail && ++launches == atol(fail)) {
		sticky = CUDA_ERROR_LAUNCH_FAILED;
		return CUDA_SUCCESS; // reported later, as an asynchronous fault is
	}
	cur_run = k->run;
	cur_kernel = k->fn;
	cur_params = params;
	emu_grid_dim = emu_dim3{gx, gy, gz};
	emu_block_dim = emu_dim3{bx, by, bz};
	for (unsigned z = 0; z < gz; z++)
		for (unsigned y = 0; y < gy; y++)
			for (unsigned x = 0; x < gx; x++) {
				emu_block_idx = emu_dim3{x, y, z};
				if (!run_block(bx * by * bz)) {
					fprintf(stderr, "grain emu: %s: __syncthreads not reached by all threads\n", k->name);
					sticky = CUDA_ERROR_LAUNCH_FAILED;
					return sticky;
				}
			}
	return check_after();
}

// The names and descriptions of the errors the emulator returns.
static const struct {
	CUresult code;
	const char *name, *text;
} errs[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
};

CUresult cuGetErrorString(CUresult e, const char **s) {
	for (auto &x : errs)
		if (x.code == e) {
			*s = x.text;
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_INVALID_VALUE;
}
CUresult cuGetErrorName(CUresult e, const char **s) {
	for (auto &x : errs)
		if (x.code == e) {
			*s = x.name;
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_INVALID_VALUE;
}

// ---- cuBLAS -------------------------------------------------------------------

struct cublasContext {
	cublasMath_t math;
	CUstream stream;
};

cublasStatus_t cublasCreate_v2(cublasHandle_t *h) {
	*h = new cublasContext{CUBLAS_DEFAULT_MATH, nullptr};
	return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) {
	delete h;
	return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) {
	h->stream = (CUstream)s;
	return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
	h->math = m;
	return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *m) {
	*m = h->math;
	return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetProperty(libraryPropertyType t, int *v) {
	*v = t == MAJOR_VERSION ? 11 : t == MINOR_VERSION ? 11 : 0;
	return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetVersion_v2(cublasHandle_t, int *v) {
	*v = 111100;
	return CUBLAS_STATUS_SUCCESS;
}

static float load(const void *base, cudaDataType t, long long i) {
	if (t == CUDA_R_32F)
		return ((const float *)base)[i];
	unsigned int b = (unsigned int)((const unsigned short *)base)[i] << 16;
	return grain_float(b);
}

static cublasStatus_t gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,
                           const void *A, cudaDataType at, int lda, long long sa, const void *B, cudaDataType bt,
                           int ldb, long long sb, const float *beta, float *C, int ldc, long long sc, int batch,
                           cublasComputeType_t ct) {
	LOCK;
	if (sticky != CUDA_SUCCESS)
		return CUBLAS_STATUS_EXECUTION_FAILED;
	bool typesOK = (at == CUDA_R_32F || at == CUDA_R_16BF) && bt == at;
	bool computeOK = ct == CUBLAS_COMPUTE_32F || ct == CUBLAS_COMPUTE_32F_PEDANTIC ||
	                 ct == CUBLAS_COMPUTE_32F_FAST_TF32 || ct == CUBLAS_COMPUTE_32F_FAST_16BF;
	if (!typesOK || !computeOK)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	int ar = ta == CUBLAS_OP_N ? m : k, br = tb == CUBLAS_OP_N ? k : n;
	if (m < 0 || n < 0 || k < 0 || batch < 0 || lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) ||
	    ldc < (m > 1 ? m : 1))
		return CUBLAS_STATUS_INVALID_VALUE;
	size_t es = at == CUDA_R_32F ? 4 : 2;
	for (int p = 0; p < batch; p++) {
		const char *a = (const char *)A + p * sa * es, *b = (const char *)B + p * sb * es;
		float *c = C + p * sc;
		long long acols = ta == CUBLAS_OP_N ? k : m, bcols = tb == CUBLAS_OP_N ? n : k;
		if ((m && k && !inside((uintptr_t)a, ((acols - 1) * lda + ar) * es)) ||
		    (n && k && !inside((uintptr_t)b, ((bcols - 1) * ldb + br) * es)) ||
		    (m && n && !inside((uintptr_t)c, ((long long)(n - 1) * ldc + m) * 4))) {
			fprintf(stderr, "grain emu: GEMM operand outside its allocation\n");
			return CUBLAS_STATUS_INVALID_VALUE;
		}
		for (int j = 0; j < n; j++)
			for (int i = 0; i < m; i++) {
				double s = 0;
				for (int l = 0; l < k; l++) {
					long long ai = ta == CUBLAS_OP_N ? (long long)l * lda + i : (long long)i * lda + l;
					long long bi = tb == CUBLAS_OP_N ? (long long)j * ldb + l : (long long)l * ldb + j;
					s += (double)load(a, at, ai) * (double)load(b, bt, bi);
				}
				float &cij = c[(long long)j * ldc + i];
				double r = (double)*alpha * s;
				if (*beta != 0)
					r += (double)*beta * cij;
				cij = (float)r;
			}
	}
	return check_after() == CUDA_SUCCESS ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                            cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ctype, int ldc,
                            cublasComputeType_t ct, cublasGemmAlgo_t) {
	if (ctype != CUDA_R_32F)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	return gemm(ta, tb, m, n, k, (const float *)alpha, A, at, lda, 0, B, bt, ldb, 0, (const float *)beta,
	            (float *)C, ldc, 0, 1, ct);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType at, int lda,
                                          long long sa, const void *B, cudaDataType bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType ctype, int ldc, long long sc,
                                          int batch, cublasComputeType_t ct, cublasGemmAlgo_t) {
	if (ctype != CUDA_R_32F)
		return CUBLAS_STATUS_NOT_SUPPORTED;
	return gemm(ta, tb, m, n, k, (const float *)alpha, A, at, lda, sa, B, bt, ldb, sb, (const float *)beta,
	            (float *)C, ldc, sc, batch, ct);
}

} // extern "C"
