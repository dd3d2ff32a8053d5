// Run-time loading of the CUDA driver (libcuda.so.1) and cuBLAS for grain.
//
// grain's cuda-enabled binaries link gorgonia.org/cu and grain's own cuBLAS
// calls against trampolines instead of the real libraries: each entry point
// resolves its target with dlopen/dlsym on first use and jumps to it. A
// binary built this way needs only libc (glibc ≥ 2.34), starts on machines
// without an NVIDIA driver, and reports why the GPU is unusable instead of
// failing to load. The trampolines themselves are generated on the build
// machine from NVIDIA's headers (engine/cuda/internal/cudabuild) and are
// never committed.
//
// Libraries searched:
//   driver  $GRAIN_LIBCUDA if set, else libcuda.so.1
//   cuBLAS  $GRAIN_CUBLAS if set (that path only), else libcublas.so.13,
//           libcublas.so.12, libcublas.so.11
//
// A missing library or symbol makes the call return an error code of its
// API instead of crashing: the driver's CUDA_ERROR_NOT_INITIALIZED (library
// missing) or CUDA_ERROR_NOT_FOUND (symbol missing); cuBLAS's
// CUBLAS_STATUS_NOT_INITIALIZED or CUBLAS_STATUS_NOT_SUPPORTED.
//
// cuInit is special: gorgonia.org/cu calls it from its package init and
// exits the process on any error, so the trampoline records the real status
// (grain_cuda_init_status) and always returns CUDA_SUCCESS.
#ifndef GRAIN_STUB_H
#define GRAIN_STUB_H

#include <cuda.h>
#include <cublas_v2.h>

// grain_resolve returns the address of name in the library lib (0: the
// driver, 1: cuBLAS), caching it in *slot, or NULL with the library's
// error code in *code.
void *grain_resolve(int lib, void **slot, const char *name, int *code);

// grain_cuda_init_status is the real result of the latest cuInit call
// (CUDA_ERROR_NOT_INITIALIZED when the driver library could not be loaded;
// -1 before any call).
int grain_cuda_init_status(void);

// grain_load_error describes why lib could not be loaded ("" when it was, or
// was never tried), and grain_load_path names the file that was loaded.
const char *grain_load_error(int lib);
const char *grain_load_path(int lib);

#define GRAIN_LIB_cuda 0
#define GRAIN_LIB_cublas 1

// The locals' names cannot clash with the API's parameter names.
#define GRAIN_STUB(lib, ret, name, params, args)                                            \
	ret name params {                                                                   \
		static void *grain_slot_;                                                   \
		int grain_code_;                                                            \
		void *grain_f_ = grain_resolve(GRAIN_LIB_##lib, &grain_slot_, #name, &grain_code_); \
		if (!grain_f_)                                                              \
			return (ret)grain_code_;                                            \
		return ((__typeof__(&name))grain_f_) args;                                  \
	}

#endif
