//go:build grain_cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/grainlab/grain/engine"
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C with cuBLAS (cublasGemmEx)
// in precision p:
//
//	FP32  float32 inputs, CUBLAS_COMPUTE_32F, CUBLAS_DEFAULT_MATH: no
//	      tensor-core shortcuts.
//	TF32  copies of A and B rounded to TF32 (round to nearest even, as
//	      kernels.RoundTF32) by grain's kernel, then
//	      CUBLAS_COMPUTE_32F_FAST_TF32 with CUBLAS_TF32_TENSOR_OP_MATH.
//	BF16  copies of A and B converted to bfloat16 (as kernels.RoundBF16),
//	      then a bf16 × bf16 → float32 GEMM, CUBLAS_COMPUTE_32F.
//
// Rounding the inputs first makes the precision in effect independent of
// the kernel cuBLAS picks: products of rounded inputs are exact in float32,
// so tensor cores and ordinary FP32 units give the same products. Every
// mode accumulates in float32. Callers that write a GEMM's inputs
// themselves can skip the copies (see StandardizeRounded, GemmPreRounded).
func (b *Backend) Gemm(transA, transB bool, alpha float32, a, bm *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision) {
	b.gemm("Gemm", transA, transB, 1, alpha, a, bm, beta, c, p, false)
}

// GemmPreRounded is Gemm for inputs whose every element is already exact in
// precision p's input format (e.g. written by StandardizeRounded): the same
// result, without rounding copies. For BF16 it lets cuBLAS convert the
// float32 inputs itself (CUBLAS_COMPUTE_32F_FAST_16BF), exactly.
func (b *Backend) GemmPreRounded(transA, transB bool, alpha float32, a, bm *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision) {
	b.gemm("GemmPreRounded", transA, transB, 1, alpha, a, bm, beta, c, p, true)
}

// GemmBatched is the strided-batched GEMM (cublasGemmStridedBatchedEx):
// A, B and C each hold batch equal blocks of consecutive rows, and for every
// i < batch
//
//	C_i = alpha·op(A_i)·op(B_i) + beta·C_i
//
// in precision p as for Gemm. It panics unless batch ≥ 1 divides the row
// counts and the blocks' shapes agree.
func (b *Backend) GemmBatched(transA, transB bool, batch int, alpha float32, a, bm *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision) {
	b.gemm("GemmBatched", transA, transB, batch, alpha, a, bm, beta, c, p, false)
}

func (b *Backend) gemm(op string, transA, transB bool, batch int, alpha float32, a, bm *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision, rounded bool) {
	if batch < 1 || a.Rows()%batch != 0 || bm.Rows()%batch != 0 || c.Rows()%batch != 0 {
		panic(fmt.Sprintf("cuda: %s: %d batches of %v, %v, %v", op, batch, a, bm, c))
	}
	ar, br := a.Rows()/batch, bm.Rows()/batch
	m, k := ar, a.Cols()
	if transA {
		m, k = k, m
	}
	k2, n := br, bm.Cols()
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		panic(fmt.Sprintf("cuda: %s inner dimensions differ: op(A) %d×%d, op(B) %d×%d", op, m, k, k2, n))
	}
	if c.Rows()/batch != m || c.Cols() != n || c.DType() != engine.Float32 {
		panic(fmt.Sprintf("cuda: %s C is %v, want %d blocks of float32[%d×%d]", op, c, batch, m, n))
	}
	for _, d := range []int{m, n, k, a.Cols(), bm.Cols(), batch} {
		if d > math.MaxInt32 {
			panic(fmt.Sprintf("cuda: %s dimension %d exceeds cuBLAS's int range", op, d))
		}
	}
	drop := dropBits(p)
	ap, bp, cp := b.ptr(a, engine.Float32), b.ptr(bm, engine.Float32), b.ptr(c, engine.Float32)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 { // C = beta·C (0·NaN included when beta = 0)
		if beta == 0 {
			b.Fill(c, 0)
		} else {
			b.Scale(c, beta)
		}
		return
	}
	sameInput := ap == bp && a.Len() == bm.Len()
	b.run(op, func() error {
		inType, compute, mode := typeF32, compute32F, mathDefault
		if drop != 0 {
			var err error
			if ap, bp, inType, err = b.roundInputs(ap, int64(a.Len()), bp, int64(bm.Len()), sameInput, drop, rounded); err != nil {
				return err
			}
			switch {
			case p == engine.TF32:
				compute, mode = compute32FTF32, mathTF32
			case rounded: // BF16 values in float32 storage
				compute = compute32FBF16
			}
		}
		// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ,
		// and a row-major matrix is its transpose in column-major terms.
		tA, tB := opN, opN
		if transA {
			tA = opT
		}
		if transB {
			tB = opT
		}
		sa, sb, sc := int64(ar*a.Cols()), int64(br*bm.Cols()), int64(m*n)
		return b.blas.gemm(tB, tA, n, m, k, alpha, bp, bm.Cols(), sb, ap, a.Cols(), sa, beta, cp, n, sc, batch, inType, compute, mode)
	})
}

// roundInputs rounds copies of the na-element A and nb-element B (one copy
// when they are the same tensor) into the workspace: float32 values with
// `drop` mantissa bits rounded away for TF32, bfloat16 for BF16. It returns
// the addresses the GEMM reads and their cuBLAS data type; with rounded set
// the inputs are used as they are.
func (b *Backend) roundInputs(ap uint64, na int64, bp uint64, nb int64, same bool, drop uint32, rounded bool) (uint64, uint64, int, error) {
	if rounded {
		return ap, bp, typeF32, nil
	}
	es, inType := int64(4), typeF32
	if drop == 16 {
		es, inType = 2, typeBF16
	}
	aBytes := (na*es + 255) &^ 255 // B's copy starts 256-byte aligned
	total := aBytes + nb*es
	if same {
		total = aBytes
	}
	ws, err := b.scratchLocked(total)
	if err != nil {
		return 0, 0, 0, err
	}
	convert := func(dst, src uint64, n int64) error {
		g, bl := b.grid1(n)
		if inType == typeBF16 {
			return b.launch(kToBF16, g, bl, dst, src, n)
		}
		return b.launch(kRoundF32, g, bl, dst, src, n, drop)
	}
	if err := convert(ws, ap, na); err != nil {
		return 0, 0, 0, err
	}
	if same {
		return ws, ws, inType, nil
	}
	if err := convert(ws+uint64(aBytes), bp, nb); err != nil {
		return 0, 0, 0, err
	}
	return ws, ws + uint64(aBytes), inType, nil
}

var _ engine.PreRounded = (*Backend)(nil)
