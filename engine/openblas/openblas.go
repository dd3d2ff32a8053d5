// Package openblas makes OpenBLAS, found at run time, grain's BLAS.
//
// grain's CPU backend multiplies matrices through gonum's blas.Float32 and
// blas.Float64 interfaces. This package provides an implementation of both
// (Impl) whose GEMM and GEMV calls go to OpenBLAS's cblas_sgemm/dgemm/sgemv/
// dgemv when the shared library can be loaded with dlopen, and to gonum's
// pure-Go implementation otherwise; every other BLAS routine is gonum's.
// EigenSym and SVD call the library's LAPACK (dsyevd_, dgesdd_) when it
// exports them, and report when it does not, so that callers fall back to
// gonum's mat.
// Nothing links against OpenBLAS at build time, so `go build ./...` works on a
// machine with only Go and gcc, and one binary runs everywhere.
//
// The library is looked up, in order, at $GRAIN_OPENBLAS (a path), then
// libopenblas.so.0, libopenblas.so and Debian's openblas-pthread and
// openblas-openmp directories. Debian: `apt-get install libopenblas0-pthread`.
// GRAIN_OPENBLAS=off forces the pure-Go path (tests use it to cover both).
//
// The two agree to float32 rounding on finite inputs. With ±Inf or NaN they
// can differ: gonum skips the terms whose factor from the operand it scans
// is 0, so 0·Inf and 0·NaN there add nothing where OpenBLAS (and IEEE
// arithmetic) gives NaN. grain's commands refuse non-finite activations
// before any product.
package openblas

import (
	"fmt"
	"os"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Impl implements blas.Float32, blas.Float64, blas.Complex64 and
// blas.Complex128 (the set gorgonia.org/tensor.Use and gorgonia.Use accept).
// GEMM and GEMV run in OpenBLAS when Loaded() is true.
type Impl struct {
	gonum.Implementation
}

var (
	loadOnce sync.Once
	loaded   bool
	loadErr  error
	libPath  string
)

func candidates() []string {
	var c []string
	if p := os.Getenv("GRAIN_OPENBLAS"); p != "" {
		c = append(c, p)
	}
	return append(c,
		"libopenblas.so.0",
		"libopenblas.so",
		"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
		"/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
		"/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
		"/usr/lib64/libopenblas.so.0",
	)
}

// Load tries to load OpenBLAS once; later calls return the first result.
func Load() error {
	loadOnce.Do(func() {
		// OpenBLAS's idle pool threads busy-wait for 2^28 cycles (≈ 0.1 s)
		// after each threaded call, taking the cores from grain's own
		// goroutines; 2^4 makes them sleep at once (read when the library
		// loads; a value the user set is kept).
		if _, set := os.LookupEnv("OPENBLAS_THREAD_TIMEOUT"); !set {
			os.Setenv("OPENBLAS_THREAD_TIMEOUT", "4")
		}
		if os.Getenv("GRAIN_OPENBLAS") == "off" {
			loadErr = fmt.Errorf("OpenBLAS disabled by GRAIN_OPENBLAS=off")
			return
		}
		var errs []string
		for _, p := range candidates() {
			if err := dlopenBLAS(p); err != nil {
				errs = append(errs, err.Error())
				continue
			}
			loaded, libPath = true, p
			return
		}
		loadErr = fmt.Errorf("OpenBLAS not found (%d places tried; first: %s)", len(errs), errs[0])
	})
	return loadErr
}

// Loaded reports whether OpenBLAS is in use.
func Loaded() bool { Load(); return loaded }

// Describe is a one-line description of the BLAS in use.
func Describe() string {
	if Loaded() {
		return fmt.Sprintf("OpenBLAS %s (%s, %d threads)", config(), libPath, Threads())
	}
	return "gonum pure-Go BLAS"
}

// FallbackNotice is the one line grain prints when OpenBLAS is missing.
const FallbackNotice = "grain: OpenBLAS not found; using pure-Go BLAS (about 10x slower GEMM). " +
	"For the fast path install it (Debian: apt-get install libopenblas0-pthread) or set GRAIN_OPENBLAS=/path/to/libopenblas.so.0"

// SetThreads sets OpenBLAS's thread count (no effect on the pure-Go path).
func SetThreads(n int) {
	if Loaded() {
		setThreads(n)
	}
}

// EigenSym computes all eigenvalues and, when vectors, the eigenvectors of
// the n×n symmetric matrix a (row-major; only its upper triangle, which is
// the lower one of LAPACK's column-major view, is read) with LAPACK's
// divide-and-conquer dsyevd from the loaded OpenBLAS: on return w holds the
// eigenvalues in ascending order and row k of a the unit eigenvector of
// w[k] (without vectors a is overwritten with scratch). ok is false,
// and a and w are untouched, when OpenBLAS is not loaded or exports no
// dsyevd_ (callers then use gonum's mat.EigenSym, 10–25× slower at n = 768);
// err reports a decomposition that did not converge.
func EigenSym(n int, a, w []float64, vectors bool) (ok bool, err error) {
	if len(a) != n*n || len(w) != n {
		panic(fmt.Sprintf("openblas: EigenSym of %d×%d with %d values and %d eigenvalues", n, n, len(a), len(w)))
	}
	if n == 0 || !Loaded() {
		return false, nil
	}
	return dsyevd(n, a, w, vectors)
}

// SVD computes the thin singular value decomposition a = u·diag(s)·vt of
// the m×n row-major a (overwritten) with LAPACK's divide-and-conquer
// dgesdd from the loaded OpenBLAS: with k = min(m, n), s gets the k
// singular values in descending order, u (m×k, row-major) the left and vt
// (k×n, row-major) the right singular vectors. ok is false, and nothing is
// touched, when OpenBLAS is not loaded or exports no dgesdd_ (callers then
// use gonum's mat.SVD); err reports a decomposition that did not converge.
func SVD(m, n int, a, s, u, vt []float64) (ok bool, err error) {
	k := min(m, n)
	if len(a) != m*n || len(s) != k || len(u) != m*k || len(vt) != k*n {
		panic(fmt.Sprintf("openblas: SVD of %d×%d with %d values, %d singular values, u %d, vt %d", m, n, len(a), len(s), len(u), len(vt)))
	}
	if k == 0 || !Loaded() {
		return false, nil
	}
	// The row-major a is the column-major aᵀ (n×m) = vtᵀ·diag(s)·uᵀ: LAPACK's
	// U of aᵀ, column-major n×k, is vt row-major, and its Vᵀ, column-major
	// k×m, is u row-major.
	return dgesdd(n, m, a, s, vt, u)
}

// Threads returns OpenBLAS's thread count, or 0 when it is not loaded.
func Threads() int {
	if Loaded() {
		return getThreads()
	}
	return 0
}

// checkGemm panics, as gonum does, when the GEMM arguments would make BLAS read
// or write outside the slices; C code must never see such a call.
func checkGemm(tA, tB blas.Transpose, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("openblas: negative GEMM size m=%d n=%d k=%d", m, n, k))
	}
	checkMat("A", tA, m, k, lenA, lda)
	checkMat("B", tB, k, n, lenB, ldb)
	checkMat("C", blas.NoTrans, m, n, lenC, ldc)
}

// checkMat validates a row-major operand whose op(X) is r×c.
func checkMat(name string, t blas.Transpose, r, c, length, ld int) {
	if t != blas.NoTrans && t != blas.Trans && t != blas.ConjTrans {
		panic("openblas: bad transpose for " + name)
	}
	if t != blas.NoTrans {
		r, c = c, r
	}
	if ld < max(1, c) {
		panic(fmt.Sprintf("openblas: %s leading dimension %d < %d", name, ld, c))
	}
	if r > 0 && c > 0 && length < (r-1)*ld+c {
		panic(fmt.Sprintf("openblas: %s has %d elements, needs %d", name, length, (r-1)*ld+c))
	}
}

func checkGemv(t blas.Transpose, m, n, lenA, lda, lenX, incX, lenY, incY int) {
	checkMat("A", blas.NoTrans, m, n, lenA, lda)
	if t != blas.NoTrans && t != blas.Trans && t != blas.ConjTrans {
		panic("openblas: bad transpose for A")
	}
	lx, ly := n, m
	if t != blas.NoTrans {
		lx, ly = m, n
	}
	if incX <= 0 || incY <= 0 {
		panic("openblas: GEMV needs positive increments")
	}
	if (lx > 0 && lenX < 1+(lx-1)*incX) || (ly > 0 && lenY < 1+(ly-1)*incY) {
		panic("openblas: GEMV vector too short")
	}
}
