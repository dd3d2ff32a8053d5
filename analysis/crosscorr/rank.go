package crosscorr

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine"
)

// Method is a cross-model ranking method (Bau et al. 2019).
type Method string

// The ranking methods. See the package documentation for their formulas.
const (
	// MaxCorr ranks by the largest |r| with any neuron of any other model.
	MaxCorr Method = "maxcorr"
	// MinCorr ranks by the smallest, over the other models, of the largest
	// |r| with a neuron of that model.
	MinCorr Method = "mincorr"
	// LinReg ranks by the worst (largest) mean squared error of predicting
	// the z-scored neuron linearly from all neurons of another model,
	// ascending.
	LinReg Method = "linreg"
	// SVCCA ranks by the ρ-weighted squared loadings of the neuron on the
	// canonical directions shared with another model (Raghu et al. 2017).
	SVCCA Method = "svcca"
)

// Methods lists the ranking methods in the order the CLI shows them.
var Methods = []Method{MaxCorr, MinCorr, LinReg, SVCCA}

// ParseMethod parses "maxcorr", "mincorr", "linreg" or "svcca".
func ParseMethod(s string) (Method, error) {
	m := Method(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Methods, m) {
		return m, nil
	}
	return "", fmt.Errorf("unknown cross-correlation method %q (want maxcorr, mincorr, linreg or svcca)", s)
}

// Ascending reports whether lower scores rank first (LinReg's errors).
func (m Method) Ascending() bool { return m == LinReg }

// Partner is a neuron's best partner: the neuron of another model with
// which its |r| is largest.
type Partner struct {
	// Model is the partner's index in Ranking.Models, −1 when the neuron is
	// constant (it has no partner).
	Model int `json:"model"`
	// Name is the partner model's name.
	Name string `json:"model_name,omitempty"`
	// Neuron is the partner's index in its model (−1 for none).
	Neuron int `json:"neuron"`
	// R is their Pearson correlation.
	R float64 `json:"r"`
}

// RankedNeuron is one neuron's place in a ranking.
type RankedNeuron struct {
	Neuron  int     `json:"neuron"`
	Score   float64 `json:"score"`
	Partner Partner `json:"partner"`
}

// ModelRanking is the ranking of one model's neurons.
type ModelRanking struct {
	Model   string `json:"model"`
	Neurons int    `json:"neurons"`
	// Ranking lists every neuron, best first; ties go to the lower index.
	Ranking []RankedNeuron `json:"ranking"`
	// Constant lists the constant (zero-variance) neurons.
	Constant []int `json:"constant_neurons,omitempty"`
	// SVCCADims is the number of singular directions SVCCA kept (SVCCA
	// only).
	SVCCADims int `json:"svcca_dims,omitempty"`
}

// Order returns the neuron indices best first (the ordering
// ranking.TopOverlap takes).
func (m *ModelRanking) Order() []int {
	o := make([]int, len(m.Ranking))
	for k, n := range m.Ranking {
		o[k] = n.Neuron
	}
	return o
}

// File returns the ranking as a ranking file (method "crosscorr-" + the
// method's name, the ordering best first, Scores[j] neuron j's score), the
// form that `grain eval --mask-ranking` and the ablations take.
func (m *ModelRanking) File(method Method) *ranking.File {
	scores := make([]float64, m.Neurons)
	for _, rn := range m.Ranking {
		scores[rn.Neuron] = rn.Score
	}
	return &ranking.File{Version: ranking.FormatVersion, Method: "crosscorr-" + string(method),
		NumNeurons: m.Neurons, Ordering: m.Order(), Scores: scores}
}

// CanonicalPair holds the SVCCA canonical correlations between models A
// and B (indices in Ranking.Models), descending.
type CanonicalPair struct {
	A            int       `json:"a"`
	B            int       `json:"b"`
	DimsA        int       `json:"dims_a"`
	DimsB        int       `json:"dims_b"`
	Correlations []float64 `json:"correlations"`
	// Mean is the mean canonical correlation (the SVCCA similarity).
	Mean float64 `json:"mean"`
}

// Ranking is the result of Rank.
type Ranking struct {
	Method Method         `json:"method"`
	Tokens int            `json:"tokens"`
	Models []ModelRanking `json:"models"`
	// Canonical holds SVCCA's canonical correlations for every pair of
	// models (SVCCA only).
	Canonical []CanonicalPair `json:"canonical,omitempty"`
	// Warnings are human-readable notes (constant neurons).
	Warnings []string `json:"warnings,omitempty"`
}

// Rank ranks the neurons of every model by method against the other models
// (K ≥ 2, all covering the same tokens), on backend be within opt.Memory.
// MaxCorr and MinCorr need only per-neuron extremes, so any number of
// neurons fits the budget; LinReg and SVCCA hold every model's full
// correlation matrices on the host and fail if they do not fit. Errors are
// those of Correlate, plus a failed eigen- or singular value decomposition.
func Rank(be engine.Backend, models []Model, method Method, opt Options) (*Ranking, error) {
	if _, err := ParseMethod(string(method)); err != nil {
		return nil, err
	}
	opt.TopK, opt.Matrix = 0, false // Correlate's options
	r, err := newRunner(be, models, opt)
	if err != nil {
		return nil, err
	}
	K := len(models)
	full := method == LinReg || method == SVCCA
	self := make([]*job, K)
	pairs := make([][]*job, K)
	for a := range K {
		pairs[a] = make([]*job, K)
	}
	var sumSq, maxN int64
	for a, in := range r.in {
		n := int64(in.n)
		sumSq += n * n
		maxN = max(maxN, n)
		if full {
			self[a] = r.addJob(a, a, true, false)
		}
	}
	if full { // see the package documentation's budget
		r.reserve = 8 * (sumSq + 8*maxN*maxN)
		if method == SVCCA {
			r.reserve += 16 * sumSq
		}
	}
	for a := range K {
		for b := a + 1; b < K; b++ {
			pairs[a][b] = r.addJob(a, b, full, true)
		}
	}
	if err := r.execute(); err != nil {
		return nil, err
	}
	// extremes of neuron i of model a against model b.
	ext := func(a, b, i int) Extremes {
		if a < b {
			return pairs[a][b].rows[i]
		}
		return pairs[b][a].cols[i]
	}
	// cross returns R_ab (n_a×n_b, row-major) in float64.
	cross := func(a, b int) []float64 {
		na, nb := r.in[a].n, r.in[b].n
		out := make([]float64, na*nb)
		if a < b {
			for k, v := range pairs[a][b].r {
				out[k] = float64(v)
			}
			return out
		}
		src := pairs[b][a].r // nb×na
		for j := range nb {
			for i := range na {
				out[i*nb+j] = float64(src[j*na+i])
			}
		}
		return out
	}
	rk := &Ranking{Method: method, Tokens: r.tokens, Models: make([]ModelRanking, K), Warnings: r.warnings()}
	scores := make([][]float64, K)
	switch method {
	case LinReg:
		bar := r.opt.reporter().Start("crosscorr: linear regressions", int64(K))
		scores, err = linRegScores(r, self, cross, bar)
		bar.Finish()
	case SVCCA:
		bar := r.opt.reporter().Start("crosscorr: SVCCA", int64(K*(K+1)/2))
		var dims []int
		scores, dims, rk.Canonical, err = svccaScores(r, self, cross, r.opt.variance(), bar)
		bar.Finish()
		for a := range dims { // none after an error
			rk.Models[a].SVCCADims = dims[a]
		}
	default:
		for a, in := range r.in {
			scores[a] = make([]float64, in.n)
			for i := range scores[a] {
				s := math.Inf(1)
				if method == MaxCorr {
					s = 0
				}
				for b := range K {
					if b == a {
						continue
					}
					v := math.Abs(ext(a, b, i).Max.R)
					if method == MaxCorr {
						s = max(s, v)
					} else {
						s = min(s, v)
					}
				}
				scores[a][i] = s
			}
		}
	}
	if err != nil {
		return nil, err
	}
	for a, in := range r.in {
		constant := make(map[int]bool, len(in.constant))
		for _, c := range in.constant {
			constant[c] = true
		}
		mr := &rk.Models[a]
		mr.Model, mr.Neurons, mr.Constant = in.name, in.n, in.constant
		mr.Ranking = make([]RankedNeuron, in.n)
		for i := range in.n {
			p := Partner{Model: -1, Neuron: -1}
			if !constant[i] {
				for b := range K {
					if b == a {
						continue
					}
					if l := ext(a, b, i).Max; p.Model < 0 || math.Abs(l.R) > math.Abs(p.R) {
						p = Partner{Model: b, Name: r.in[b].name, Neuron: l.Neuron, R: l.R}
					}
				}
			}
			mr.Ranking[i] = RankedNeuron{Neuron: i, Score: scores[a][i], Partner: p}
		}
		asc := method.Ascending()
		slices.SortStableFunc(mr.Ranking, func(x, y RankedNeuron) int {
			switch {
			case x.Score == y.Score:
				return x.Neuron - y.Neuron
			case (x.Score < y.Score) == asc:
				return -1
			}
			return 1
		})
	}
	return rk, nil
}
