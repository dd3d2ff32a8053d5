//go:build grain_cuda

package cuda_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
)

// sameOrder fails unless the two rankings agree, except for swaps of
// neurons whose scores (by the CPU's result) are within tol of each other.
func sameOrder(t *testing.T, what string, cpuOrder, gpuOrder []int, score func(int) float64, tol float64) {
	t.Helper()
	if len(cpuOrder) != len(gpuOrder) {
		t.Fatalf("%s: %d vs %d neurons", what, len(cpuOrder), len(gpuOrder))
	}
	swaps := 0
	for i := range cpuOrder {
		a, b := cpuOrder[i], gpuOrder[i]
		if a == b {
			continue
		}
		sa, sb := score(a), score(b)
		if math.Abs(sa-sb) > tol*math.Max(math.Abs(sa), math.Abs(sb)) {
			t.Fatalf("%s: place %d is neuron %d on the CPU (score %g) but %d on the GPU (score %g)", what, i, a, sa, b, sb)
		}
		swaps++
	}
	if swaps > 0 {
		t.Logf("%s: %d places differ, all between near-tied neurons", what, swaps)
	}
}

// TestGPUParityProbe trains the same probe (both protocols, same seed, FP32)
// on the CPU and on the GPU and compares weights and neuron rankings.
func TestGPUParityProbe(t *testing.T) {
	g := device(t)
	c := cpu.New()
	tc := synthetic.DefaultTeacher()
	tc.Rows, tc.Neurons, tc.Labels, tc.NonZero = 1200, 48, 5, 6
	d := synthetic.Teacher(tc)
	for _, mode := range []probe.Mode{probe.ModeNeuroX, probe.ModeFast} {
		cfg := probe.DefaultConfig(mode)
		cfg.Epochs = 3
		pc, _, err := probe.Train(c, d, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		pg, _, err := probe.Train(g, d, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var scale, worst float64
		for i, w := range pc.Weight {
			scale = math.Max(scale, math.Abs(float64(w)))
			worst = math.Max(worst, math.Abs(float64(w-pg.Weight[i])))
		}
		if worst > 1e-3*scale {
			t.Fatalf("%s: weights differ by %g (largest weight %g)", mode, worst, scale)
		}
		rc, err := ranking.NewRanker(pc.Weight, len(pc.Labels), pc.Neurons)
		if err != nil {
			t.Fatal(err)
		}
		rg, err := ranking.NewRanker(pg.Weight, len(pg.Labels), pg.Neurons)
		if err != nil {
			t.Fatal(err)
		}
		mass := func(j int) float64 {
			var s float64
			for l := range pc.Labels {
				s += math.Abs(float64(pc.Weight[l*pc.Neurons+j]))
			}
			return s
		}
		sameOrder(t, string(mode)+" probe ranking", rc.Ordering(20).Neurons, rg.Ordering(20).Neurons, mass, 1e-3)
	}
}

// TestGPUParityMaxCorr ranks the neurons of three correlated models by
// MaxCorr (and MinCorr) on the CPU and on the GPU in FP32.
func TestGPUParityMaxCorr(t *testing.T) {
	g := device(t)
	c := cpu.New()
	const tokens, neurons, latent = 1500, 40, 6
	r := rand.New(rand.NewPCG(11, 12))
	z := make([]float64, tokens*latent)
	for i := range z {
		z[i] = r.NormFloat64()
	}
	var models []crosscorr.Model
	for m := 0; m < 3; m++ {
		w := make([]float64, latent*neurons)
		for i := range w {
			w[i] = r.NormFloat64()
		}
		x := make([]float32, tokens*neurons)
		for i := 0; i < tokens; i++ {
			for j := 0; j < neurons; j++ {
				v := 2 * r.NormFloat64()
				for l := 0; l < latent; l++ {
					v += z[i*latent+l] * w[l*neurons+j]
				}
				x[i*neurons+j] = float32(v)
			}
		}
		src, err := crosscorr.NewMemory(x, tokens, neurons, nil)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, crosscorr.Model{Name: string(rune('A' + m)), Source: src})
	}
	// A budget that splits the work into several token blocks and sweeps.
	opt := crosscorr.Options{Memory: 200 << 10, Precision: engine.FP32}
	for _, method := range []crosscorr.Method{crosscorr.MaxCorr, crosscorr.MinCorr} {
		rc, err := crosscorr.Rank(c, models, method, opt)
		if err != nil {
			t.Fatal(err)
		}
		rg, err := crosscorr.Rank(g, models, method, opt)
		if err != nil {
			t.Fatal(err)
		}
		for m := range models {
			mc, mg := rc.Models[m], rg.Models[m]
			score := map[int]float64{}
			for _, n := range mc.Ranking {
				score[n.Neuron] = n.Score
				if math.Abs(n.Score-lookup(mg.Ranking, n.Neuron)) > 1e-5 {
					t.Fatalf("%s model %d neuron %d: score %g on the CPU, %g on the GPU", method, m, n.Neuron, n.Score, lookup(mg.Ranking, n.Neuron))
				}
			}
			sameOrder(t, string(method)+" ranking of model "+mc.Model, mc.Order(), mg.Order(), func(j int) float64 { return score[j] }, 1e-5)
		}
	}
}

func lookup(r []crosscorr.RankedNeuron, neuron int) float64 {
	for _, n := range r {
		if n.Neuron == neuron {
			return n.Score
		}
	}
	return math.NaN()
}
