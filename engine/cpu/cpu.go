// Package cpu is grain's CPU backend: engine tensors stored in
// gorgonia.org/tensor dense arrays, matrix products through BLAS (OpenBLAS
// loaded at run time, else gonum's pure Go; see package engine/openblas), and
// grain's kernels (package kernels) split across all cores.
//
// Importing the package registers the "cpu" device with package engine.
// Work is split into fixed, contiguous ranges, so results do not depend on
// scheduling, and reductions (sums, norms, losses) are cut into ranges that
// do not depend on GOMAXPROCS either, nor do the kernels whose vector loops
// round differently from their scalar tails (their ranges are cut at
// multiples of the vector width). Matrix products do, through the rows or
// columns each core's BLAS call gets and BLAS's own partitioning (OpenBLAS
// and gonum's pure Go alike): results on different numbers of cores (or
// batch sizes) agree to float32 rounding, not bit for bit.
package cpu

import (
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/openblas"
	"github.com/grainlab/grain/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gorgonia.org/tensor"
)

func init() {
	engine.Register("cpu", driver{})
	tensor.Use(openblas.Impl{})
	// gonum's mat and lapack (the float64 host algebra of LinReg and
	// SVCCA) through OpenBLAS's GEMM and GEMV too.
	blas64.Use(openblas.Impl{})
	// grain chooses the threading of each GEMM itself (see sgemm).
	openblas.SetThreads(1)
}

type driver struct{}

func (driver) Available() (bool, string) { return true, "" }

var noticeOnce sync.Once

func (driver) Open(ordinal int, notice io.Writer) (engine.Backend, error) {
	if ordinal != 0 {
		return nil, fmt.Errorf("cpu has only device 0, not %d", ordinal)
	}
	if err := openblas.Load(); err != nil && notice != nil {
		noticeOnce.Do(func() { fmt.Fprintln(notice, openblas.FallbackNotice) })
	}
	return New(), nil
}

// Backend is the CPU implementation of engine.Backend.
type Backend struct {
	blas openblas.Impl
}

// New returns a CPU backend.
func New() *Backend { return &Backend{} }

type storage struct {
	b     *Backend
	dense *tensor.Dense
}

func (s *storage) Backend() engine.Backend { return s.b }

// Name is "cpu".
func (b *Backend) Name() string { return "cpu" }

// Describe names the cores and the BLAS in use.
func (b *Backend) Describe() string {
	return fmt.Sprintf("cpu: %d cores (GOMAXPROCS), BLAS: %s", runtime.GOMAXPROCS(0), openblas.Describe())
}

// Close does nothing: CPU memory is garbage collected.
func (b *Backend) Close() error { return nil }

// Alloc returns a zeroed tensor backed by a gorgonia.org/tensor Dense array.
func (b *Backend) Alloc(rows, cols int, dt engine.DType) (*engine.Tensor, error) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("cpu: Alloc %d×%d", rows, cols))
	}
	n := rows * cols
	var back any
	switch dt {
	case engine.Float32:
		back = make([]float32, n)
	case engine.Float64:
		back = make([]float64, n)
	case engine.Int32:
		back = make([]int32, n)
	default:
		panic(fmt.Sprintf("cpu: Alloc of %v", dt))
	}
	d := tensor.New(tensor.WithShape(max(n, 1)), tensor.WithBacking(padded(back, n)))
	return engine.NewTensor(&storage{b: b, dense: d}, rows, cols, dt, 0), nil
}

// padded returns back, or a 1-element slice when n is 0 (gorgonia tensors
// cannot be empty).
func padded(back any, n int) any {
	if n > 0 {
		return back
	}
	switch back.(type) {
	case []float32:
		return make([]float32, 1)
	case []float64:
		return make([]float64, 1)
	default:
		return make([]int32, 1)
	}
}

// Wrap makes a Float32 tensor that uses data (rows·cols elements) as its
// storage without copying: the zero-copy path for host data already in
// memory (e.g. a memory-mapped activation block).
func (b *Backend) Wrap(data []float32, rows, cols int) *engine.Tensor {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cpu: Wrap of %d values as %d×%d", len(data), rows, cols))
	}
	if len(data) == 0 {
		data = make([]float32, 1)
	}
	d := tensor.New(tensor.WithShape(len(data)), tensor.WithBacking(data))
	return engine.NewTensor(&storage{b: b, dense: d}, rows, cols, engine.Float32, 0)
}

// Free drops the reference; the garbage collector reclaims the memory.
func (b *Backend) Free(t *engine.Tensor) {}

// Float32s returns the elements of a CPU Float32 tensor as a slice sharing
// its memory. It panics for other backends or dtypes.
func Float32s(t *engine.Tensor) []float32 {
	s := mine(t, engine.Float32)
	return s.dense.Data().([]float32)[t.Offset() : t.Offset()+t.Len()]
}

// Float64s is Float32s for Float64 tensors.
func Float64s(t *engine.Tensor) []float64 {
	s := mine(t, engine.Float64)
	return s.dense.Data().([]float64)[t.Offset() : t.Offset()+t.Len()]
}

// Int32s is Float32s for Int32 tensors.
func Int32s(t *engine.Tensor) []int32 {
	s := mine(t, engine.Int32)
	return s.dense.Data().([]int32)[t.Offset() : t.Offset()+t.Len()]
}

func mine(t *engine.Tensor, dt engine.DType) *storage {
	if t == nil {
		panic("cpu: nil tensor")
	}
	s, ok := t.Storage().(*storage)
	if !ok {
		panic(fmt.Sprintf("cpu: tensor %v belongs to backend %s", t, t.Backend().Name()))
	}
	if t.DType() != dt {
		panic(fmt.Sprintf("cpu: tensor %v, want %v", t, dt))
	}
	return s
}

// Upload copies src into dst.
func (b *Backend) Upload(dst *engine.Tensor, src any) {
	switch s := src.(type) {
	case []float32:
		copyExact(Float32s(dst), s)
	case []float64:
		copyExact(Float64s(dst), s)
	case []int32:
		copyExact(Int32s(dst), s)
	default:
		panic(fmt.Sprintf("cpu: Upload of %T", src))
	}
}

// Download copies src into dst.
func (b *Backend) Download(dst any, src *engine.Tensor) error {
	switch d := dst.(type) {
	case []float32:
		copyExact(d, Float32s(src))
	case []float64:
		copyExact(d, Float64s(src))
	case []int32:
		copyExact(d, Int32s(src))
	default:
		panic(fmt.Sprintf("cpu: Download into %T", dst))
	}
	return nil
}

func copyExact[T any](dst, src []T) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("cpu: copy of %d elements into %d", len(src), len(dst)))
	}
	copy(dst, src)
}

// Sync returns nil: CPU operations complete before they return.
func (b *Backend) Sync() error { return nil }

// Gemm computes C = alpha·op(A)·op(B) + beta·C through BLAS. TF32 and BF16
// round copies of A and B first (emulating tensor-core input rounding) and
// then multiply in float32.
func (b *Backend) Gemm(transA, transB bool, alpha float32, a, bm *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision) {
	b.gemm(transA, transB, alpha, a, bm, beta, c, p, false)
}

// GemmPreRounded is Gemm for inputs already exact in p's input format: it
// multiplies them as they are, without rounded copies (engine.PreRounded).
func (b *Backend) GemmPreRounded(transA, transB bool, alpha float32, a, bm *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision) {
	b.gemm(transA, transB, alpha, a, bm, beta, c, p, true)
}

// StandardizeRounded is Standardize followed by rounding dst to p's input
// format (engine.PreRounded).
func (b *Backend) StandardizeRounded(dst, src, mean, invStd *engine.Tensor, p engine.Precision) {
	b.Standardize(dst, src, mean, invStd)
	if round := rounding(p); round != nil {
		ds := Float32s(dst)
		parallel(len(ds), 1, func(lo, hi int) { round(ds[lo:hi], ds[lo:hi]) })
	}
}

// StandardizeRoundedT writes the transpose of StandardizeRounded's result
// into dst (src.Cols() × src.Rows(); engine.PreRounded).
func (b *Backend) StandardizeRoundedT(dst, src, mean, invStd *engine.Tensor, p engine.Precision) {
	rows, cols := src.Rows(), src.Cols()
	dst.MustBe("StandardizeRoundedT dst", cols, rows, engine.Float32)
	mean.MustBe("StandardizeRoundedT mean", 1, cols, engine.Float32)
	invStd.MustBe("StandardizeRoundedT invStd", 1, cols, engine.Float32)
	if dst.Storage() == src.Storage() {
		panic("cpu: StandardizeRoundedT into its own source's storage")
	}
	ds, ss, ms, is := Float32s(dst), Float32s(src), Float32s(mean), Float32s(invStd)
	round := rounding(p)
	parallel(cols, rows, func(lo, hi int) {
		kernels.StandardizeTransposed(ds, ss, rows, lo, hi, ms, is)
		if round != nil {
			round(ds[lo*rows:hi*rows], ds[lo*rows:hi*rows])
		}
	})
}

// StandardizeRoundedTMoments is ColMoments and StandardizeRoundedT
// (engine.PreRounded): on the CPU the second read of the block comes
// from the cache or memory that the first brought it through.
func (b *Backend) StandardizeRoundedTMoments(dst, src, mean, invStd, colMean, colM2 *engine.Tensor, p engine.Precision) {
	b.ColMoments(src, colMean, colM2)
	b.StandardizeRoundedT(dst, src, mean, invStd, p)
}

var _ engine.PreRounded = (*Backend)(nil)

// rounding returns the function that rounds float32 values to p's GEMM
// input format (nil for FP32, which keeps them).
func rounding(p engine.Precision) func(dst, src []float32) {
	switch p {
	case engine.FP32:
		return nil
	case engine.TF32:
		return kernels.RoundTF32
	case engine.BF16:
		return kernels.RoundBF16
	}
	panic(fmt.Sprintf("cpu: Gemm precision %v", p))
}

// gemm is Gemm, with the rounding copies of A and B skipped when
// preRounded says they are exact in p's input format already.
func (b *Backend) gemm(transA, transB bool, alpha float32, a, bm *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision, preRounded bool) {
	m, k := a.Rows(), a.Cols()
	if transA {
		m, k = k, m
	}
	k2, n := bm.Rows(), bm.Cols()
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		panic(fmt.Sprintf("cpu: Gemm inner dimensions differ: op(A) %d×%d, op(B) %d×%d", m, k, k2, n))
	}
	c.MustBe("Gemm C", m, n, engine.Float32)
	as, bs, cs := Float32s(a), Float32s(bm), Float32s(c)
	if round := rounding(p); round != nil && !preRounded {
		ar, br := make([]float32, len(as)), make([]float32, len(bs))
		parallel(len(as), 1, func(lo, hi int) { round(ar[lo:hi], as[lo:hi]) })
		parallel(len(bs), 1, func(lo, hi int) { round(br[lo:hi], bs[lo:hi]) })
		as, bs = ar, br
	}
	if beta == 0 {
		clear(cs) // BLAS may compute 0·NaN = NaN
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		parallel(len(cs), 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				cs[i] *= beta
			}
		})
		return
	}
	b.sgemm(transA, transB, m, n, k, alpha, as, a.Cols(), bs, bm.Cols(), beta, cs, n)
}

// sgemm runs a product on all cores in one of two ways, by its size
// 2mnk (measured, bench/RESULTS.md):
//
//   - at least gemmPoolFlops: one BLAS call on BLAS's own thread pool
//     (OpenBLAS shares packed panels between its threads: 140.6 vs 129.0
//     GFLOP/s for 1024×1024×8192 here);
//   - smaller: C is split into one block of rows (or of columns, when C is
//     wide) per core, and single-threaded BLAS runs on each block in its own
//     goroutine, so the many small products of probe and model training do
//     not pay for waking BLAS's pool.
//
// Both splits are fixed, so results are deterministic.
func (b *Backend) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bs []float32, ldb int, beta float32, c []float32, ldc int) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	flops := 2 * float64(m) * float64(n) * float64(k)
	cores := runtime.GOMAXPROCS(0)
	if flops >= gemmPoolFlops {
		openblas.SetThreads(cores)
		b.blas.Sgemm(tA, tB, m, n, k, alpha, a, lda, bs, ldb, beta, c, ldc)
		openblas.SetThreads(1)
		return
	}
	parts := cores
	if flops < gemmSplitFlops {
		parts = 1
	}
	if m >= n {
		parts = min(parts, m)
		parallelParts(parts, func(p int) {
			i0, i1 := m*p/parts, m*(p+1)/parts
			aOff := i0 * lda // rows of op(A) are rows of A
			if transA {
				aOff = i0 // ... or columns of A
			}
			b.blas.Sgemm(tA, tB, i1-i0, n, k, alpha, a[aOff:], lda, bs, ldb, beta, c[i0*ldc:], ldc)
		})
		return
	}
	parts = min(parts, n)
	parallelParts(parts, func(p int) {
		j0, j1 := n*p/parts, n*(p+1)/parts
		bOff := j0 // columns of op(B) are columns of B
		if transB {
			bOff = j0 * ldb // ... or rows of B
		}
		b.blas.Sgemm(tA, tB, m, j1-j0, k, alpha, a, lda, bs[bOff:], ldb, beta, c[j0:], ldc)
	})
}

// gemmPoolFlops is the product size (2mnk) from which a GEMM runs on BLAS's
// thread pool (512³ products and larger).
const gemmPoolFlops = 1 << 28

// gemmSplitFlops is the product size (2mnk) below which a GEMM runs on one
// core.
const gemmSplitFlops = 1 << 21
