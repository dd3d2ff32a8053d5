package probe

import (
	"math"
	"testing"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
)

// refNeuroX trains the NeuroX protocol in float64 from the same initial
// weights for the given number of Adam steps: mean CE over each batch of 32
// consecutive rows + λ1·Σ|W| + λ2·sqrt(ΣW²), Adam (PyTorch formulation).
func refNeuroX(x []float32, y []int32, rows, n, k int, cfg Config, steps int) (w, b []float64) {
	w0, b0 := InitialWeights(k, n, cfg.Seed)
	w, b = toF64(w0), toF64(b0)
	mw, vw := make([]float64, len(w)), make([]float64, len(w))
	mb, vb := make([]float64, k), make([]float64, k)
	gw, gb := make([]float64, len(w)), make([]float64, k)
	adam := func(p, g, m, v []float64, t int) {
		bc1, bc2 := 1-math.Pow(0.9, float64(t)), 1-math.Pow(0.999, float64(t))
		for i := range p {
			m[i] = 0.9*m[i] + 0.1*g[i]
			v[i] = 0.999*v[i] + 0.001*g[i]*g[i]
			p[i] -= cfg.LR / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + 1e-8)
		}
	}
	start := 0
	for t := 1; t <= steps; t++ {
		if start >= rows {
			start = 0
		}
		end := min(start+cfg.BatchSize, rows)
		bs := float64(end - start)
		clear(gw)
		clear(gb)
		logit := make([]float64, k)
		for r := start; r < end; r++ {
			z := x[r*n : (r+1)*n]
			mx := math.Inf(-1)
			for l := 0; l < k; l++ {
				s := b[l]
				for j := 0; j < n; j++ {
					s += w[l*n+j] * float64(z[j])
				}
				logit[l] = s
				mx = math.Max(mx, s)
			}
			var sum float64
			for l := range logit {
				sum += math.Exp(logit[l] - mx)
			}
			for l := 0; l < k; l++ {
				d := math.Exp(logit[l]-mx) / sum
				if int32(l) == y[r] {
					d--
				}
				d /= bs
				gb[l] += d
				for j := 0; j < n; j++ {
					gw[l*n+j] += d * float64(z[j])
				}
			}
		}
		var ss float64
		for _, v := range w {
			ss += v * v
		}
		norm := math.Sqrt(ss)
		for i, v := range w {
			if v > 0 {
				gw[i] += cfg.L1
			} else if v < 0 {
				gw[i] -= cfg.L1
			}
			gw[i] += cfg.L2 * v / norm
		}
		adam(w, gw, mw, vw, t)
		adam(b, gb, mb, vb, t)
		start = end
	}
	return w, b
}

func toF64(x []float32) []float64 {
	d := make([]float64, len(x))
	for i, v := range x {
		d[i] = float64(v)
	}
	return d
}

// TestNeuroXModeMatchesFloat64Reference trains 50 steps (an epoch of 40
// batches, the last one short, then 10 more) and compares every weight.
func TestNeuroXModeMatchesFloat64Reference(t *testing.T) {
	const rows, n, k = 32*39 + 17, 64, 5
	d, _, err := synthetic.Dataset(rows, k, synthetic.Config{Neurons: n, PlantedPerLabel: 2, CopiesPerLabel: 1, Signal: 2, Noise: 1, CopyNoise: 0.5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(ModeNeuroX)
	cfg.L1, cfg.L2, cfg.Seed = 1e-3, 1e-3, 7
	dense := d.X.(*dataset.Dense)
	b := cpu.New()
	tr, err := newTrainer(b, d, k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for steps < 50 {
		err := tr.data.each(nil, func(x, y *engine.Tensor) {
			if steps < 50 {
				tr.stepBatch(x, y, tr.losses.Slice(0, 1))
				steps++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := New(d.Labels, n)
	if err := tr.download(got); err != nil {
		t.Fatal(err)
	}
	wRef, bRef := refNeuroX(dense.Data, d.Y, rows, n, k, cfg, 50)
	var worst float64
	for i := range wRef {
		worst = math.Max(worst, math.Abs(float64(got.Weight[i])-wRef[i]))
	}
	for i := range bRef {
		worst = math.Max(worst, math.Abs(float64(got.Bias[i])-bRef[i]))
	}
	if worst > 1e-5 {
		t.Fatalf("after 50 steps max |Δ| between grain and the float64 reference = %.3g > 1e-5", worst)
	}
	w0, _ := InitialWeights(k, n, cfg.Seed)
	var moved float64
	for i := range w0 {
		moved = math.Max(moved, math.Abs(float64(w0[i])-wRef[i]))
	}
	if moved < 1e-3 {
		t.Fatalf("weights barely moved (%.3g): the comparison is vacuous", moved)
	}
	t.Logf("max |Δ| = %.3g after 50 steps (weights moved up to %.3g)", worst, moved)
}
