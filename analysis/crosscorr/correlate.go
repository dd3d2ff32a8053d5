package crosscorr

import (
	"fmt"
	"strings"

	"github.com/grainlab/grain/engine"
)

// Link is one partner of a neuron: a neuron of the other model and their
// Pearson correlation r.
type Link struct {
	Neuron int     `json:"neuron"`
	R      float64 `json:"r"`
}

// Extremes summarises one neuron's correlations with all neurons of another
// model. Ties go to the lowest partner index.
type Extremes struct {
	// Max is the partner with the largest |r| (R keeps its sign).
	Max Link `json:"max"`
	// Min is the partner with the smallest |r|.
	Min Link `json:"min"`
	// Top holds the Options.TopK partners with the largest |r|, by |r|
	// descending.
	Top []Link `json:"top,omitempty"`
}

// Correlation is the result of Correlate for models A (N neurons) and B (M
// neurons).
type Correlation struct {
	A      string `json:"a"`
	B      string `json:"b"`
	Tokens int    `json:"tokens"`
	N      int    `json:"n"`
	M      int    `json:"m"`
	// R is the N×M correlation matrix, row-major (R[i·M+j] = r(A_i, B_j)),
	// when Options.Matrix was set; else nil.
	R []float32 `json:"r,omitempty"`
	// ANeurons[i] summarises neuron i of A against all neurons of B.
	ANeurons []Extremes `json:"a_neurons"`
	// BNeurons[j] summarises neuron j of B against all neurons of A.
	BNeurons []Extremes `json:"b_neurons"`
	// ConstantA and ConstantB list the constant (zero-variance) neurons,
	// whose correlations are reported as 0.
	ConstantA []int `json:"constant_a,omitempty"`
	ConstantB []int `json:"constant_b,omitempty"`
	// Warnings are human-readable notes (constant neurons).
	Warnings []string `json:"warnings,omitempty"`
}

// At returns r(A_i, B_j); it panics unless the matrix was kept.
func (c *Correlation) At(i, j int) float64 {
	if c.R == nil {
		panic("crosscorr: Correlation.At without Options.Matrix")
	}
	if i < 0 || i >= c.N || j < 0 || j >= c.M {
		panic(fmt.Sprintf("crosscorr: At(%d, %d) outside %d×%d", i, j, c.N, c.M))
	}
	return float64(c.R[i*c.M+j])
}

// Correlate computes the Pearson correlation between every neuron of a and
// every neuron of b over their common tokens, streaming both sources twice
// within opt.Memory, on backend be. It returns per-neuron extremes, the
// top-k partners when opt.TopK > 0, and the whole matrix when opt.Matrix.
// Errors: misaligned sources (see CheckAligned), a NaN or ±Inf activation
// (naming model, token row and neuron), a budget too small, read and
// device failures.
func Correlate(be engine.Backend, a, b Model, opt Options) (*Correlation, error) {
	r, err := newRunner(be, []Model{a, b}, opt)
	if err != nil {
		return nil, err
	}
	j := r.addJob(0, 1, opt.Matrix, true)
	if err := r.execute(); err != nil {
		return nil, err
	}
	return &Correlation{
		A: a.Name, B: b.Name, Tokens: r.tokens, N: r.in[0].n, M: r.in[1].n,
		R: j.r, ANeurons: j.rows, BNeurons: j.cols,
		ConstantA: r.in[0].constant, ConstantB: r.in[1].constant,
		Warnings: r.warnings(),
	}, nil
}

// warnings lists the constant neurons of every input.
func (r *runner) warnings() []string {
	var w []string
	for _, in := range r.in {
		if len(in.constant) == 0 {
			continue
		}
		const most = 20
		s := make([]string, 0, most+1)
		for i, n := range in.constant {
			if i == most {
				s = append(s, "…")
				break
			}
			if sub, ok := in.src.(Subset); ok {
				n = sub.Neuron(n)
			}
			s = append(s, fmt.Sprint(n))
		}
		w = append(w, fmt.Sprintf("model %q: %d constant neurons (σ at most 1e-7 of |mean|, float32's resolution, or 0) have r = 0 with every neuron: %s",
			in.name, len(in.constant), strings.Join(s, " ")))
	}
	return w
}
