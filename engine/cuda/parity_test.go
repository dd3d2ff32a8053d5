//go:build grain_cuda

package cuda_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/analysis/synthetic"
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
// on the CPU and on the GPU and compares weights and neuron rankings, with
// the in-memory design matrix uploaded whole and, under a 64 KiB budget,
// streamed in chunks.
func TestGPUParityProbe(t *testing.T) {
	g := device(t)
	c := cpu.New()
	tc := synthetic.DefaultTeacher()
	tc.Rows, tc.Neurons, tc.Labels, tc.NonZero = 1200, 48, 5, 6
	d := synthetic.Teacher(tc)
	for _, tr := range []struct {
		mode   probe.Mode
		budget int64
	}{{probe.ModeNeuroX, 0}, {probe.ModeFast, 0}, {probe.ModeNeuroX, 64 << 10}, {probe.ModeFast, 64 << 10}} {
		what := fmt.Sprintf("%s, budget %d", tr.mode, tr.budget)
		cfg := probe.DefaultConfig(tr.mode)
		// Three one-epoch rounds (MinSteps 1): parity needs few steps, and
		// fast mode's floor of 1,000 would run 38 times as many on these
		// 1,140 rows while float32 rounding differences grow.
		cfg.Epochs, cfg.MinSteps, cfg.MemoryBudget = 3, 1, tr.budget
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
			t.Fatalf("%s: weights differ by %g (largest weight %g)", what, worst, scale)
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
		sameOrder(t, what+": probe ranking", rc.Ordering(20).Neurons, rg.Ordering(20).Neurons, mass, 1e-3)
	}
}
