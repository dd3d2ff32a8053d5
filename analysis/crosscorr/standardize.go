package crosscorr

import (
	"fmt"
	"math"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/kernels"
)

// Standardization is how the sweeps standardize a model's token blocks
// before the model's exact moments are known, y = (x − Shift)·Scale
// (rounded to float32 as engine.Backend.Standardize computes it), with
// Shift and Scale the mean and 1/σ of a sample of the model's rows. One
// streaming pass then gives both the exact moments and the products
// P(a, b) = Σ_t y_a·y_b, which Correction turns into correlations.
type Standardization struct {
	Shift, Scale []float32
}

// SampleStandardization reads S = min(T, sampleRows) rows of src, one from
// each of S equal stretches of its T tokens (SampleRow), and returns the
// Exact standardization of their moments (kernels.ColMoments of batches of
// rows, merged by engine.ColumnStats), except that a neuron constant in
// the sample gets Scale 1. A NaN or ±Inf in the sample is an error that
// names its token row and neuron.
func SampleStandardization(src Source) (Standardization, error) {
	T, n := src.NumTokens(), src.NumNeurons()
	S := min(T, sampleRows)
	const batch = 32 // rows per ColMoments
	buf := make([]float32, batch*n)
	mean, m2 := make([]float64, n), make([]float64, n)
	st := engine.NewColumnStats(n)
	for k0 := 0; k0 < S; k0 += batch {
		b := min(batch, S-k0)
		for k := range b {
			if err := src.ReadRows(SampleRow(k0+k, T), 1, buf[k*n:(k+1)*n]); err != nil {
				return Standardization{}, err
			}
		}
		kernels.ColMoments(buf[:b*n], b, n, 0, n, mean, m2)
		for j := range mean {
			if !finite(mean[j]) || !finite(m2[j]) {
				if err := firstNonFinite(buf[:b*n], n, func(k int) int { return SampleRow(k0+k, T) }); err != nil {
					return Standardization{}, err
				}
				return Standardization{}, fmt.Errorf("neuron %d: non-finite moments of the sampled rows", j)
			}
		}
		st.Merge(int64(b), mean, m2)
	}
	s := Exact(st)
	for j, c := range s.Scale {
		if c == 0 { // constant in the sample
			s.Scale[j] = 1
		}
	}
	return s, nil
}

// SampleRow is the row that SampleStandardization reads from the k-th (0 ≤
// k < min(T, sampleRows)) of
// S = min(T, sampleRows) stretches of T tokens, rows [⌈k·T/S⌉,
// ⌈(k+1)·T/S⌉): the row at the fraction u_k ∈ [0, 1) of it, a fixed
// pseudo-random offset (SplitMix64 of k), so that the sample does not fall
// on the same position of every sentence when the tokens come in
// sentences of one length (whose first tokens are often atypical).
func SampleRow(k, T int) int {
	S := int64(min(T, sampleRows))
	lo, hi := (int64(k)*int64(T)+S-1)/S, (int64(k+1)*int64(T)+S-1)/S
	z := uint64(k+1) * 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return int(lo + int64(float64(z>>11)/(1<<53)*float64(hi-lo)))
}

// maxCentred bounds |x − Shift| for the activations x of a neuron, so that
// x − Shift, computed in float32, cannot overflow (with a margin for the
// rounding of Shift).
const maxCentred = math.MaxFloat32 / 2

// centredOverflow returns the first neuron that is not constant whose
// activations could lie farther than maxCentred from Shift, judged from
// the exact moments st: no activation lies farther than σ·√T from the mean
// μ (T·σ² is the sum of their squared deviations), so none can when
// |μ − Shift| + σ·√T ≤ maxCentred. It returns −1 when there is none.
func (s Standardization) centredOverflow(st *engine.ColumnStats) int {
	inv, _ := st.InvStd()
	sqrtT := math.Sqrt(float64(st.N))
	for j, v := range inv {
		if v != 0 && !(math.Abs(st.Mean[j]-float64(s.Shift[j]))+math.Sqrt(st.Variance(j))*sqrtT <= maxCentred) {
			return j
		}
	}
	return -1
}

// Fits reports whether s suits the exact moments st of its model, that is
// whether products of rows standardized with it keep their accuracy and
// cannot overflow in float32: no activation minus Shift can overflow
// (centredOverflow), and for every neuron that is not constant, |g| =
// |μ − Shift|/σ ≤ maxSampleShift (the correction then multiplies the
// products' accumulated rounding by at most about 1 + |g_a·g_b| ≤ 5; Exact
// always fits, as rounding μ to float32 moves it by less than 0.6σ when σ
// > 1e-7·|μ|) and Scale·σ, the standardized rows' spread, lies in [2^-40,
// 2^40] (then |P| ≤ 5·T·2^80 by Cauchy–Schwarz). A sample that is not typical of the tokens can fail
// it; crosscorr then runs its first sweep again with the exact moments.
func (s Standardization) Fits(st *engine.ColumnStats) bool {
	if s.centredOverflow(st) >= 0 {
		return false
	}
	inv, _ := st.InvStd()
	for j, v := range inv {
		if v == 0 {
			continue // constant: r = 0 whatever the standardization
		}
		sd := math.Sqrt(st.Variance(j))
		g, spread := (st.Mean[j]-float64(s.Shift[j]))/sd, float64(s.Scale[j])*sd
		if !(math.Abs(g) <= maxSampleShift) || !(spread >= 0x1p-40 && spread <= 0x1p40) {
			return false
		}
	}
	return true
}

// Exact is the standardization by st's exact moments: Shift = float32(μ),
// Scale = float32(1/σ), 0 for constant neurons (engine.ColumnStats.InvStd).
func Exact(st *engine.ColumnStats) Standardization {
	inv, _ := st.InvStd()
	return Standardization{Shift: st.MeanFloat32(), Scale: inv}
}

// Correction returns, from a model's exact moments μ and σ over its T
// tokens (st), the vectors w and g that turn the products P(a, b) = Σ_t
// y_a·y_b of two standardized models (y = (x − s)·c, s and c this
// Standardization's) into correlations, with engine.Backend.AffineOuter:
//
//	r(a, b) = w_a·w_b·P(a, b) − g_a·g_b,  w = 1/(c·σ·√T),  g = (μ − s)/σ
//
// (z = (x − μ)/σ = w·√T·y − g, and Σ_t y = c·T·(μ − s)), and the
// constant neurons (engine.ColumnStats.InvStd), whose w = g = 0 give r = 0
// exactly. The rounding of y enters r in proportion to (1 + |g_a|)·(1 +
// |g_b|), and |g| is about 1/√sampleRows where the sample is typical of
// the tokens (see Fits).
func (s Standardization) Correction(st *engine.ColumnStats) (w, g []float32, constant []int) {
	inv, constant := st.InvStd()
	sqrtT := math.Sqrt(float64(st.N))
	w, g = make([]float32, len(inv)), make([]float32, len(inv))
	for j, v := range inv {
		if v != 0 {
			is := 1 / math.Sqrt(st.Variance(j))
			w[j] = float32(is / (float64(s.Scale[j]) * sqrtT))
			g[j] = float32((st.Mean[j] - float64(s.Shift[j])) * is)
		}
	}
	return w, g, constant
}
