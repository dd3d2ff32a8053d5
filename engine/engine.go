// Package engine is grain's compute engine: matrices that live on a device
// and the operations grain's analyses and models need on them, behind one
// Backend interface that the CPU backend (package engine/cpu) and the CUDA
// backend implement.
//
// # Tensors
//
// A *Tensor is a dense row-major matrix (rows × cols) of Float32, Float64 or
// Int32 elements owned by one Backend. Vectors are 1×n matrices. Slice gives a
// view of a contiguous range of rows without copying. Host data enters and
// leaves only through Backend.Upload and Backend.Download.
//
// # Contracts
//
// Operations are issued in program order and may run asynchronously with
// respect to the host (the CUDA backend queues them on a stream); Download and
// Sync wait for all queued work. Operations whose operands have the wrong
// shape, dtype or backend panic: that is a programming error. Failures of the
// device itself (out of memory, a failed launch) are returned by Alloc, or
// recorded and returned by the next Download or Sync.
//
// Unless stated otherwise, outputs may not alias inputs. Reductions that
// produce sums accumulate in float64. Reductions that select (max, min) break
// ties by the lowest index.
//
// # Devices
//
// Backends register themselves (like database/sql drivers) and Open resolves
// a device string: "auto", "cpu", "cuda" or "cuda:N".
package engine

import "fmt"

// DType is the element type of a Tensor.
type DType uint8

const (
	// Float32 is IEEE-754 single precision.
	Float32 DType = iota + 1
	// Float64 is IEEE-754 double precision (statistics accumulators).
	Float64
	// Int32 holds labels and indices.
	Int32
)

// Size is the size of one element in bytes.
func (d DType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case Float64:
		return 8
	}
	panic(fmt.Sprintf("engine: invalid dtype %d", d))
}

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Int32:
		return "int32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Precision selects how a GEMM multiplies. Every mode accumulates in float32.
type Precision uint8

const (
	// FP32 multiplies float32 inputs exactly (IEEE single-precision products).
	FP32 Precision = iota
	// TF32 rounds inputs to TensorFloat-32 (8-bit exponent, 10-bit mantissa,
	// round to nearest even) before multiplying: NVIDIA tensor cores' fast
	// single-precision mode. The CPU backend emulates it by rounding.
	TF32
	// BF16 rounds inputs to bfloat16 (8-bit exponent, 7-bit mantissa, round
	// to nearest even). The CPU backend emulates it by rounding.
	BF16
)

func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case TF32:
		return "tf32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// ParsePrecision parses "fp32", "tf32" or "bf16".
func ParsePrecision(s string) (Precision, error) {
	for _, p := range []Precision{FP32, TF32, BF16} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown precision %q (want fp32, tf32 or bf16)", s)
}

// ReduceOp selects what a selecting reduction (ReduceRows, ReduceCols)
// computes over each row or column.
type ReduceOp uint8

const (
	// Max is the largest value.
	Max ReduceOp = iota
	// Min is the smallest value.
	Min
	// MaxAbs is the value of largest magnitude, returned with its sign.
	MaxAbs
	// MinAbs is the value of smallest magnitude, returned with its sign.
	MinAbs
)

func (op ReduceOp) String() string {
	return [...]string{"max", "min", "maxabs", "minabs"}[op]
}

// Adam holds the hyper-parameters of one Adam step (Kingma & Ba 2015) in
// PyTorch's formulation (torch.optim.Adam, no weight decay, no amsgrad),
// with an optional elastic-net (sub)gradient folded into the gradient:
//
//	g ← g + L1·sign(p) + L2Scale·p        (sign(0) = 0)
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − (LR / (1−β1^Step)) · m / (sqrt(v)/sqrt(1−β2^Step) + Eps)
//
// For the penalty λ1·Σ|p| + λ2·sqrt(Σp²) use L1 = λ1 and
// L2Scale = λ2/‖p‖. Step counts from 1.
type Adam struct {
	LR, Beta1, Beta2, Eps float64
	Step                  int
	L1, L2Scale           float64
}

// DefaultAdam returns PyTorch's defaults (β1 0.9, β2 0.999, ε 1e-8) with the
// given learning rate, at step 1.
func DefaultAdam(lr float64) Adam {
	return Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1}
}

// Backend is one compute device. See the package documentation for the
// contracts that every method follows.
type Backend interface {
	// Name is the device name as Open accepts it ("cpu", "cuda:0").
	Name() string
	// Describe is a one-line description (device model, BLAS, threads).
	Describe() string
	// Close releases the device; tensors of a closed backend are invalid.
	Close() error

	// Alloc returns a zero-filled rows×cols tensor.
	Alloc(rows, cols int, dt DType) (*Tensor, error)
	// Free releases t's storage (views of it become invalid). Freeing a
	// view does nothing.
	Free(t *Tensor)
	// Upload copies host data into dst: src is []float32, []float64 or
	// []int32 matching dst's dtype, with exactly dst.Len() elements.
	Upload(dst *Tensor, src any)
	// Download copies src into dst (a slice as for Upload) after all queued
	// work is done, and returns any recorded device error.
	Download(dst any, src *Tensor) error
	// Sync waits for all queued work and returns any recorded device error.
	Sync() error

	// Gemm computes C = alpha·op(A)·op(B) + beta·C where op(X) is X or Xᵀ
	// (transA, transB), all Float32, in precision p. beta = 0 overwrites C
	// (even if it held NaN).
	Gemm(transA, transB bool, alpha float32, a, b *Tensor, beta float32, c *Tensor, p Precision)

	// Fill sets every element of a Float32 tensor to v.
	Fill(t *Tensor, v float32)
	// Copy copies src into dst (same shape and dtype).
	Copy(dst, src *Tensor)
	// Scale multiplies t by alpha.
	Scale(t *Tensor, alpha float32)
	// Axpy computes y ← alpha·x + y.
	Axpy(alpha float32, x, y *Tensor)
	// Mul computes dst ← a ∘ b elementwise; dst may alias a or b.
	Mul(dst, a, b *Tensor)
	// AddRowVector adds the 1×cols vector v to every row of t.
	AddRowVector(t, v *Tensor)
	// ScaleColumns multiplies column j of src by s[j] into dst (dst may
	// alias src). With a 0/1 vector s this is a column mask: masked columns
	// become exactly +0.
	ScaleColumns(dst, src, s *Tensor)
	// AffineOuter sets t[i, j] ← (rowScale[i]·t[i, j])·colScale[j] −
	// rowShift[i]·colShift[j], each product rounded to float32 (never
	// fused into an FMA), with rowScale and rowShift 1×rows and colScale
	// and colShift 1×cols Float32: a diagonal scaling on both sides and a
	// rank-one update, which turns the products of shifted and scaled
	// activations into correlations (package crosscorr).
	AffineOuter(t, rowScale, colScale, rowShift, colShift *Tensor)
	// GatherColumns sets dst[i, k] = src[i, idx[k]] for a 1×K Int32 idx.
	GatherColumns(dst, src, idx *Tensor)

	// ReduceRows computes, for every row i of src, op over the row: vals[i]
	// (a rows×1 Float32) gets the selected value and idx[i] (rows×1 Int32,
	// may be nil) its column.
	ReduceRows(op ReduceOp, src, vals, idx *Tensor)
	// ReduceCols is ReduceRows along columns: vals and idx are 1×cols.
	ReduceCols(op ReduceOp, src, vals, idx *Tensor)
	// SumCols sets dst[0, j] = Σ_i src[i, j] (accumulated in float64,
	// stored in dst's dtype, Float32 or Float64).
	SumCols(dst, src *Tensor)
	// SumSquares sets the 1×1 Float64 dst to Σ x² over src (float64).
	SumSquares(dst, src *Tensor)
	// ColMoments computes, in float64, each column's mean and sum of squared
	// deviations over the rows of src: mean[j] = Σ_i x_ij / n and
	// m2[j] = Σ_i (x_ij − mean[j])² (two passes, or one pass of sums
	// shifted by a column value; either way no cancellation that matters).
	// mean and m2 are 1×cols Float64. Blocks are combined with
	// stats.Merge (Chan et al.).
	ColMoments(src, mean, m2 *Tensor)
	// Standardize sets dst[i, j] = (src[i, j] − mean[j]) · invStd[j] with
	// mean and invStd 1×cols Float32; dst may alias src.
	Standardize(dst, src, mean, invStd *Tensor)

	// SoftmaxCrossEntropy computes, for logits (n×k) and Int32 labels
	// (n×1, each in [0, k)), p = softmax(logits row) and the per-row loss
	// −log p[label]; loss (1×1 Float64) receives Σ over rows. If grad is
	// non-nil (n×k Float32, may alias logits) it receives
	// gradScale·(p − onehot(label)). Computed with the max-shift, so it
	// never overflows.
	SoftmaxCrossEntropy(logits, labels, grad, loss *Tensor, gradScale float32)
	// AdamUpdate applies one Adam step (see Adam) to param given grad, with
	// first and second moments m and v (same shape, Float32), updated in
	// place.
	AdamUpdate(param, grad, m, v *Tensor, h Adam)
	// SoftThreshold applies the proximal operator of thresh·‖x‖₁:
	// x ← sign(x)·max(|x| − thresh, 0).
	SoftThreshold(t *Tensor, thresh float32)
}

// HostMemory is implemented by backends whose tensors live in host memory
// (the CPU backend). Wrap makes a Float32 tensor that uses data (rows·cols
// values) as its storage without copying, so host data such as a
// memory-mapped activation block needs no upload. Callers check for it with
// a type assertion and fall back to Alloc + Upload.
type HostMemory interface {
	Wrap(data []float32, rows, cols int) *Tensor
}
