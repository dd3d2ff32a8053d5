//go:build grain_cuda

package cuda

/*
#cgo CFLAGS: -I${SRCDIR}/stub
#cgo LDFLAGS: -lcuda
#include <stdlib.h>
#include "grain_stub.h"

// Device pointers cross from Go as integers (CUdeviceptr) and become C
// pointers here, so the Go side never converts integers to unsafe.Pointer.

static int grain_cublas_version(void) {
	int major = 0, minor = 0, patch = 0;
	if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS ||
	    cublasGetProperty(MINOR_VERSION, &minor) != CUBLAS_STATUS_SUCCESS ||
	    cublasGetProperty(PATCH_LEVEL, &patch) != CUBLAS_STATUS_SUCCESS)
		return -1;
	return major * 10000 + minor * 100 + patch;
}

static cublasStatus_t grain_cublas_create(cublasHandle_t *h, CUstream s) {
	cublasStatus_t st = cublasCreate(h);
	if (st != CUBLAS_STATUS_SUCCESS)
		return st;
	st = cublasSetStream(*h, (cudaStream_t)s);
	if (st != CUBLAS_STATUS_SUCCESS)
		cublasDestroy(*h);
	return st;
}

// grain_gemm runs C = alpha·op(A)·op(B) + beta·C (column-major, as cuBLAS
// sees it) with the given input type, compute type and math mode.
static cublasStatus_t grain_gemm(cublasHandle_t h, int ta, int tb, int m, int n, int k, float alpha,
                                 CUdeviceptr A, int lda, long long sa, CUdeviceptr B, int ldb, long long sb,
                                 float beta, CUdeviceptr C, int ldc, long long sc, int batch, int inType,
                                 int compute, int math) {
	cublasStatus_t st = cublasSetMathMode(h, (cublasMath_t)math);
	if (st != CUBLAS_STATUS_SUCCESS)
		return st;
	if (batch == 1)
		return cublasGemmEx(h, (cublasOperation_t)ta, (cublasOperation_t)tb, m, n, k, &alpha, (const void *)A,
		                    (cudaDataType)inType, lda, (const void *)B, (cudaDataType)inType, ldb, &beta,
		                    (void *)C, CUDA_R_32F, ldc, (cublasComputeType_t)compute, CUBLAS_GEMM_DEFAULT);
	return cublasGemmStridedBatchedEx(h, (cublasOperation_t)ta, (cublasOperation_t)tb, m, n, k, &alpha,
	                                  (const void *)A, (cudaDataType)inType, lda, sa, (const void *)B,
	                                  (cudaDataType)inType, ldb, sb, &beta, (void *)C, CUDA_R_32F, ldc, sc,
	                                  batch, (cublasComputeType_t)compute, CUBLAS_GEMM_DEFAULT);
}

static CUresult grain_host_alloc(void **p, CUdeviceptr *d, size_t n) {
	CUresult r = cuMemHostAlloc(p, n, CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE);
	if (r != CUDA_SUCCESS)
		return r;
	r = cuMemHostGetDevicePointer(d, *p, 0);
	if (r != CUDA_SUCCESS)
		cuMemFreeHost(*p);
	return r;
}

static CUresult grain_pinned_alloc(void **p, size_t n) {
	return cuMemHostAlloc(p, n, CU_MEMHOSTALLOC_PORTABLE);
}

static const char *grain_error_name(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL)
		return "";
	return s;
}

static const char *grain_error_string(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorString(r, &s) != CUDA_SUCCESS || s == NULL)
		return "";
	return s;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Values of cuBLAS and CUDA enums that Go code passes to grain_gemm.
const (
	opN = C.CUBLAS_OP_N
	opT = C.CUBLAS_OP_T

	typeF32  = C.CUDA_R_32F
	typeBF16 = C.CUDA_R_16BF

	compute32F     = C.CUBLAS_COMPUTE_32F
	compute32FTF32 = C.CUBLAS_COMPUTE_32F_FAST_TF32
	compute32FBF16 = C.CUBLAS_COMPUTE_32F_FAST_16BF

	mathDefault = C.CUBLAS_DEFAULT_MATH
	mathTF32    = C.CUBLAS_TF32_TENSOR_OP_MATH
)

// loadError says why library lib (0: the driver, 1: cuBLAS) could not be
// loaded, or "" (see stub/grain_stub.h).
func loadError(lib int) string { return C.GoString(C.grain_load_error(C.int(lib))) }

// loadPath names the file that library lib was loaded from.
func loadPath(lib int) string { return C.GoString(C.grain_load_path(C.int(lib))) }

// initStatus is the driver's real answer to cuInit (-1: never called).
func initStatus() int { return int(C.grain_cuda_init_status()) }

// cublasVersion returns cuBLAS's version as major·10⁴ + minor·10² + patch,
// or -1 when cuBLAS cannot be loaded.
func cublasVersion() int { return int(C.grain_cublas_version()) }

// driverError describes a CUresult with the driver's own name and text.
func driverError(code int) string {
	r := C.CUresult(code)
	name, text := C.GoString(C.grain_error_name(r)), C.GoString(C.grain_error_string(r))
	switch {
	case name == "":
		return fmt.Sprintf("CUDA error %d", code)
	case text == "":
		return name
	}
	return name + " (" + text + ")"
}

// cublasHandle is a cuBLAS context bound to one stream.
type cublasHandle struct{ h C.cublasHandle_t }

func newCublas(stream unsafe.Pointer) (cublasHandle, error) {
	var h cublasHandle
	if st := C.grain_cublas_create(&h.h, C.CUstream(stream)); st != C.CUBLAS_STATUS_SUCCESS {
		return h, cublasError("cublasCreate", int(st))
	}
	return h, nil
}

func (h cublasHandle) destroy() { C.cublasDestroy_v2(h.h) }

// gemm is cublasGemmEx (batch 1) or cublasGemmStridedBatchedEx in
// cuBLAS's column-major terms.
func (h cublasHandle) gemm(ta, tb, m, n, k int, alpha float32, a uint64, lda int, sa int64, b uint64, ldb int, sb int64,
	beta float32, c uint64, ldc int, sc int64, batch, inType, compute, math int) error {
	st := C.grain_gemm(h.h, C.int(ta), C.int(tb), C.int(m), C.int(n), C.int(k), C.float(alpha),
		C.CUdeviceptr(a), C.int(lda), C.longlong(sa), C.CUdeviceptr(b), C.int(ldb), C.longlong(sb),
		C.float(beta), C.CUdeviceptr(c), C.int(ldc), C.longlong(sc), C.int(batch), C.int(inType),
		C.int(compute), C.int(math))
	if st != C.CUBLAS_STATUS_SUCCESS {
		return cublasError("cublasGemmEx", int(st))
	}
	return nil
}

// hostMapped is page-locked host memory that kernels can write through a
// device pointer (used for the kernels' error flags).
type hostMapped struct {
	p   unsafe.Pointer
	dev uint64
}

func newHostMapped(bytes int) (hostMapped, error) {
	var m hostMapped
	var d C.CUdeviceptr
	if r := C.grain_host_alloc(&m.p, &d, C.size_t(bytes)); r != C.CUDA_SUCCESS {
		return m, fmt.Errorf("cuda: page-locked host memory: %s", driverError(int(r)))
	}
	m.dev = uint64(d)
	return m, nil
}

func (m hostMapped) free() { C.cuMemFreeHost(m.p) }

// newPinned allocates page-locked host memory for fast asynchronous
// copies.
func newPinned(bytes int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if r := C.grain_pinned_alloc(&p, C.size_t(bytes)); r != C.CUDA_SUCCESS {
		return nil, fmt.Errorf("cuda: %s of page-locked host memory: %s", bytesString(int64(bytes)), driverError(int(r)))
	}
	return p, nil
}

func freePinned(p unsafe.Pointer) { C.cuMemFreeHost(p) }

// cublasStatusNames are the names of cublasStatus_t values.
var cublasStatusNames = map[int]string{
	C.CUBLAS_STATUS_NOT_INITIALIZED:  "CUBLAS_STATUS_NOT_INITIALIZED",
	C.CUBLAS_STATUS_ALLOC_FAILED:     "CUBLAS_STATUS_ALLOC_FAILED",
	C.CUBLAS_STATUS_INVALID_VALUE:    "CUBLAS_STATUS_INVALID_VALUE",
	C.CUBLAS_STATUS_ARCH_MISMATCH:    "CUBLAS_STATUS_ARCH_MISMATCH",
	C.CUBLAS_STATUS_MAPPING_ERROR:    "CUBLAS_STATUS_MAPPING_ERROR",
	C.CUBLAS_STATUS_EXECUTION_FAILED: "CUBLAS_STATUS_EXECUTION_FAILED",
	C.CUBLAS_STATUS_INTERNAL_ERROR:   "CUBLAS_STATUS_INTERNAL_ERROR",
	C.CUBLAS_STATUS_NOT_SUPPORTED:    "CUBLAS_STATUS_NOT_SUPPORTED",
	C.CUBLAS_STATUS_LICENSE_ERROR:    "CUBLAS_STATUS_LICENSE_ERROR",
}

func cublasError(call string, status int) error {
	name, ok := cublasStatusNames[status]
	if !ok {
		name = fmt.Sprintf("cuBLAS status %d", status)
	}
	return fmt.Errorf("cuda: %s: %s", call, name)
}
