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
	// GemmPreRounded is Gemm for inputs whose every element is already
	// exact in p's input format (rounding is idempotent, so the result
	// equals Gemm's), without the rounding copies.
	GemmPreRounded(transA, transB bool, alpha float32, a, b *Tensor, beta float32, c *Tensor, p Precision)
}
