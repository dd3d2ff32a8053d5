package engine

// PreRounded is implemented by backends whose reduced-precision Gemm rounds
// copies of its inputs before multiplying (the CUDA backend does, so that
// the precision in effect never depends on which kernel the GEMM library
// picks). A caller that writes a GEMM's inputs itself, such as a blocked
// correlation standardizing each block, can round them as it writes them
// and save the copies (a read and a write of both inputs per product).
// Callers check for it with a type assertion and otherwise use Standardize
// and Gemm.
type PreRounded interface {
	// StandardizeRounded is Standardize followed by rounding every element
	// of dst to the input format of p (TF32 or BF16 as Precision describes;
	// FP32 leaves the values as they are).
	StandardizeRounded(dst, src, mean, invStd *Tensor, p Precision)
	// StandardizeRoundedT writes the transpose of StandardizeRounded's
	// result: dst (src.Cols() × src.Rows()) holds standardized column c of
	// src as its row c, the same values bit for bit. Products over the
	// rows (tokens) then read both operands with the rows contiguous,
	// GemmPreRounded(false, true, 1, aT, bT, …) = Σ_rows aᵀ·b, which on
	// an H100 ran 1.5× faster in TF32 than the token-major
	// GemmPreRounded(true, false, 1, a, b, …) (bench/RESULTS.md, "GPU").
	// dst must not share storage with src.
	StandardizeRoundedT(dst, src, mean, invStd *Tensor, p Precision)
	// StandardizeRoundedTMoments is StandardizeRoundedT(dst, src, mean,
	// invStd, p) and ColMoments(src, colMean, colM2) with one read of src:
	// the moments are accumulated in float64 shifted by mean (which is
	// accurate when mean is near the columns' means) and agree with
	// ColMoments' to float64 rounding. colMean and colM2 are 1×cols
	// Float64.
	StandardizeRoundedTMoments(dst, src, mean, invStd, colMean, colM2 *Tensor, p Precision)
	// GemmPreRounded is Gemm for inputs whose every element is already
	// exact in p's input format (rounding is idempotent, so the result
	// equals Gemm's), without the rounding copies.
	GemmPreRounded(transA, transB bool, alpha float32, a, b *Tensor, beta float32, c *Tensor, p Precision)
}
