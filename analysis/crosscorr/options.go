package crosscorr

import (
	"fmt"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
)

const (
	// DefaultMemory is the memory budget used when Options.Memory is 0:
	// 2 GiB.
	DefaultMemory int64 = 2 << 30
	// MaxBlockRows is the most tokens streamed per block. Larger blocks do
	// not make the GEMM faster; they only hold more memory.
	MaxBlockRows = 8192
	// DefaultVariance is the fraction of variance SVCCA keeps per model.
	DefaultVariance = 0.99
	// processReserve is the part of the budget (at most a quarter) left to
	// the process itself: the Go runtime, the BLAS library's workspace.
	processReserve = 64 << 20
	// minBlockRows is the fewest tokens per block a budget must allow
	// (fewer only when the data has fewer tokens).
	minBlockRows = 16
	// targetBlockRows is the block height below which the planner gives
	// the tiles less of the budget (GEMMs over fewer tokens run slower).
	targetBlockRows = 1024
	// maxShareDiv is the smallest fraction 1/maxShareDiv of the available
	// budget the planner gives the tiles.
	maxShareDiv = 8
	// ringMinRows is the fewest blocks whose moments the double-buffered
	// path keeps room for (within an eighth of the budget left beside the
	// tiles; room for all blocks of MaxBlockRows tokens when that allows),
	// so that the first sweep waits for the device at most once per that
	// many blocks even when the blocks take most of the budget.
	ringMinRows = 16
	// sampleRows is the most rows, one from each of as many stretches of
	// the tokens (SampleRow), whose mean and standard deviation
	// standardize the blocks before the exact moments are known: the
	// means' offset from them is then about σ/√sampleRows, which the final
	// correction removes exactly.
	sampleRows = 256
	// maxSampleShift is the largest |μ − shift|/σ of a sampled
	// standardization that the first sweep's products are kept with
	// (Standardization.Fits): the correction multiplies the products'
	// accumulated rounding by about 1 + |g_a·g_b| ≤ 5. A sparse neuron
	// that one sampled row happens to hit has |g| ≈ 1/(256·√p) for a
	// firing rate p, below 2 down to p ≈ 4e-6.
	maxSampleShift = 2
)

// Options configures Correlate and Rank. The zero value is valid.
type Options struct {
	// Memory is the budget in bytes for everything the computation
	// allocates (see the package documentation); 0 means DefaultMemory.
	Memory int64
	// Precision is the GEMM precision of the correlation accumulations.
	Precision engine.Precision
	// TopK is the number of best partners (by |r|) Correlate keeps per
	// neuron; 0 keeps none. Rank ignores it.
	TopK int
	// Matrix makes Correlate return the whole N×M correlation matrix. It is
	// an error if the matrix takes more than half the budget. Rank ignores
	// it.
	Matrix bool
	// Variance is the fraction of variance SVCCA keeps per model, in (0, 1];
	// 0 means DefaultVariance.
	Variance float64
	// Progress receives progress reports; nil means progress.Nop.
	Progress progress.Reporter
}

func (o Options) memory() int64 {
	if o.Memory == 0 {
		return DefaultMemory
	}
	return o.Memory
}

func (o Options) variance() float64 {
	if o.Variance == 0 {
		return DefaultVariance
	}
	return o.Variance
}

func (o Options) reporter() progress.Reporter {
	if o.Progress == nil {
		return progress.Nop
	}
	return o.Progress
}

func (o Options) validate() error {
	switch {
	case o.Memory < 0:
		return fmt.Errorf("crosscorr: negative memory budget %d", o.Memory)
	case o.TopK < 0:
		return fmt.Errorf("crosscorr: negative TopK %d", o.TopK)
	case o.Variance < 0 || o.Variance > 1:
		return fmt.Errorf("crosscorr: SVCCA variance %g outside (0, 1]", o.Variance)
	}
	switch o.Precision {
	case engine.FP32, engine.TF32, engine.BF16:
	default:
		return fmt.Errorf("crosscorr: unknown precision %v", o.Precision)
	}
	return nil
}
