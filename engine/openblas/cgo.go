//go:build cgo

package openblas

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// CBLAS enums (cblas.h): RowMajor = 101, NoTrans = 111, Trans = 112.
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*dgemv_fn)(int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);
typedef char* (*get_config_fn)(void);
// LAPACK's dsyevd (Fortran: character arguments by pointer, their lengths
// appended as size_t).
typedef void (*dsyevd_fn)(const char*, const char*, const int*, double*, const int*, double*, double*, const int*,
	int*, const int*, int*, size_t, size_t);
typedef void (*dgesdd_fn)(const char*, const int*, const int*, double*, const int*, double*, double*, const int*,
	double*, const int*, double*, const int*, int*, int*, size_t);

static sgemm_fn p_sgemm;
static dgemm_fn p_dgemm;
static sgemv_fn p_sgemv;
static dgemv_fn p_dgemv;
static set_threads_fn p_set_threads;
static get_threads_fn p_get_threads;
static get_config_fn p_get_config;
static dsyevd_fn p_dsyevd;
static dgesdd_fn p_dgesdd;

// grain_blas_open returns NULL on success or dlerror()'s message.
static const char* grain_blas_open(const char* path) {
	void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	sgemm_fn sg = (sgemm_fn)dlsym(h, "cblas_sgemm");
	dgemm_fn dg = (dgemm_fn)dlsym(h, "cblas_dgemm");
	sgemv_fn sv = (sgemv_fn)dlsym(h, "cblas_sgemv");
	dgemv_fn dv = (dgemv_fn)dlsym(h, "cblas_dgemv");
	set_threads_fn st = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
	get_threads_fn gt = (get_threads_fn)dlsym(h, "openblas_get_num_threads");
	if (!sg || !dg || !sv || !dv || !st || !gt) {
		dlclose(h);
		return "library lacks cblas_sgemm/dgemm/sgemv/dgemv or openblas_set_num_threads";
	}
	p_sgemm = sg; p_dgemm = dg; p_sgemv = sv; p_dgemv = dv;
	p_set_threads = st; p_get_threads = gt;
	p_get_config = (get_config_fn)dlsym(h, "openblas_get_config");
	p_dsyevd = (dsyevd_fn)dlsym(h, "dsyevd_");
	p_dgesdd = (dgesdd_fn)dlsym(h, "dgesdd_");
	return NULL;
}

// grain_dsyevd runs dsyevd on the column-major n×n symmetric a (its lower
// triangle), eigenvalues ascending into w and, when vectors, eigenvectors
// into a's columns (else a is destroyed); it returns LAPACK's info, or
// -1000 when the library has no dsyevd_ or its workspace cannot be
// allocated.
static int grain_dsyevd(int n, double* a, double* w, int vectors) {
	if (!p_dsyevd) return -1000;
	const char* jobz = vectors ? "V" : "N";
	int info = 0, lwork = -1, liwork = -1, iwq = 0;
	double wq = 0;
	p_dsyevd(jobz, "L", &n, a, &n, w, &wq, &lwork, &iwq, &liwork, &info, 1, 1);
	if (info != 0) return info;
	lwork = (int)wq; liwork = iwq;
	double* work = malloc(sizeof(double) * (size_t)(lwork > 1 ? lwork : 1));
	int* iwork = malloc(sizeof(int) * (size_t)(liwork > 1 ? liwork : 1));
	if (!work || !iwork) { free(work); free(iwork); return -1000; }
	p_dsyevd(jobz, "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
	free(work); free(iwork);
	return info;
}

// grain_dgesdd runs dgesdd (thin: jobz "S") on the column-major m×n a,
// singular values into s, u m×min(m,n) (leading dimension m), vt
// min(m,n)×n (leading dimension min(m,n)); it returns LAPACK's info, or
// -1000 as grain_dsyevd.
static int grain_dgesdd(int m, int n, double* a, double* s, double* u, double* vt) {
	if (!p_dgesdd) return -1000;
	int k = m < n ? m : n, info = 0, lwork = -1;
	double wq = 0;
	int* iwork = malloc(sizeof(int) * 8 * (size_t)(k > 1 ? k : 1));
	if (!iwork) return -1000;
	p_dgesdd("S", &m, &n, a, &m, s, u, &m, vt, &k, &wq, &lwork, iwork, &info, 1);
	if (info != 0) { free(iwork); return info; }
	lwork = (int)wq;
	double* work = malloc(sizeof(double) * (size_t)(lwork > 1 ? lwork : 1));
	if (!work) { free(iwork); return -1000; }
	p_dgesdd("S", &m, &n, a, &m, s, u, &m, vt, &k, work, &lwork, iwork, &info, 1);
	free(work); free(iwork);
	return info;
}

static void grain_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
		const float* b, int ldb, float beta, float* c, int ldc) {
	p_sgemm(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void grain_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double* a, int lda,
		const double* b, int ldb, double beta, double* c, int ldc) {
	p_dgemm(101, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void grain_sgemv(int t, int m, int n, float alpha, const float* a, int lda, const float* x, int incx,
		float beta, float* y, int incy) {
	p_sgemv(101, t, m, n, alpha, a, lda, x, incx, beta, y, incy);
}
static void grain_dgemv(int t, int m, int n, double alpha, const double* a, int lda, const double* x, int incx,
		double beta, double* y, int incy) {
	p_dgemv(101, t, m, n, alpha, a, lda, x, incx, beta, y, incy);
}
static void grain_set_threads(int n) { p_set_threads(n); }
static int grain_get_threads(void) { return p_get_threads(); }
static const char* grain_get_config(void) { return p_get_config ? p_get_config() : "unknown version"; }
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

func dlopenBLAS(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	if msg := C.grain_blas_open(cs); msg != nil {
		return errors.New(C.GoString(msg))
	}
	return nil
}

func setThreads(n int) { C.grain_set_threads(C.int(n)) }
func getThreads() int  { return int(C.grain_get_threads()) }
func config() string   { return strings.TrimSpace(C.GoString(C.grain_get_config())) }

// dsyevd runs LAPACK's dsyevd (see EigenSym); ok is false when the library
// has no dsyevd_, err reports LAPACK's failure.
func dsyevd(n int, a, w []float64, vectors bool) (ok bool, err error) {
	v := C.int(0)
	if vectors {
		v = 1
	}
	switch info := int(C.grain_dsyevd(C.int(n), (*C.double)(unsafe.Pointer(&a[0])), (*C.double)(unsafe.Pointer(&w[0])), v)); {
	case info == -1000:
		return false, nil
	case info != 0:
		return true, fmt.Errorf("openblas: dsyevd info %d", info)
	}
	return true, nil
}

// dgesdd runs LAPACK's dgesdd (see SVD) on the column-major m×n a.
func dgesdd(m, n int, a, s, u, vt []float64) (ok bool, err error) {
	ptr := func(x []float64) *C.double { return (*C.double)(unsafe.Pointer(&x[0])) }
	switch info := int(C.grain_dgesdd(C.int(m), C.int(n), ptr(a), ptr(s), ptr(u), ptr(vt))); {
	case info == -1000:
		return false, nil
	case info != 0:
		return true, fmt.Errorf("openblas: dgesdd info %d", info)
	}
	return true, nil
}

func cblasTrans(t blas.Transpose) C.int {
	if t == blas.NoTrans {
		return 111
	}
	return 112
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C (row-major), in OpenBLAS when
// loaded.
func (im Impl) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !Loaded() {
		im.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		// Degenerate product: only the beta scaling remains.
		im.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.grain_sgemm(cblasTrans(tA), cblasTrans(tB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), (*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// Dgemm is Sgemm in float64.
func (im Impl) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if !Loaded() {
		im.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	checkGemm(tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		im.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.grain_dgemm(cblasTrans(tA), cblasTrans(tB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), (*C.double)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// Sgemv computes y = alpha·op(A)·x + beta·y (row-major A, m×n).
func (im Impl) Sgemv(t blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	if !Loaded() || m == 0 || n == 0 || incX <= 0 || incY <= 0 {
		im.Implementation.Sgemv(t, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	checkGemv(t, m, n, len(a), lda, len(x), incX, len(y), incY)
	C.grain_sgemv(cblasTrans(t), C.int(m), C.int(n), C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.int(lda),
		(*C.float)(unsafe.Pointer(&x[0])), C.int(incX), C.float(beta), (*C.float)(unsafe.Pointer(&y[0])), C.int(incY))
}

// Dgemv is Sgemv in float64.
func (im Impl) Dgemv(t blas.Transpose, m, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	if !Loaded() || m == 0 || n == 0 || incX <= 0 || incY <= 0 {
		im.Implementation.Dgemv(t, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	checkGemv(t, m, n, len(a), lda, len(x), incX, len(y), incY)
	C.grain_dgemv(cblasTrans(t), C.int(m), C.int(n), C.double(alpha), (*C.double)(unsafe.Pointer(&a[0])), C.int(lda),
		(*C.double)(unsafe.Pointer(&x[0])), C.int(incX), C.double(beta), (*C.double)(unsafe.Pointer(&y[0])), C.int(incY))
}
