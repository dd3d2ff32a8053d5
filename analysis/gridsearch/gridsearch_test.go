package gridsearch

import (
	"testing"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/engine/cpu"
)

func TestChoose(t *testing.T) {
	pts := []Point{
		{L1: 0, L2: 0, DevAccuracy: 0.90, Union: 50},
		{L1: 1e-4, L2: 0, DevAccuracy: 0.895, Union: 20},
		{L1: 1e-3, L2: 0, DevAccuracy: 0.88, Union: 5}, // too inaccurate
		{L1: 0, L2: 1e-4, DevAccuracy: 0.893, Union: 20},
	}
	// Points 1 and 3 tie on the union; 1 has the larger λ1 at equal sum.
	if got := Choose(pts, 0.01); got != 1 {
		t.Fatalf("Choose = %d, want 1", got)
	}
	if got := Choose(pts, 0.05); got != 2 {
		t.Fatalf("Choose with slack 0.05 = %d, want 2", got)
	}
	if Choose(nil, 0.01) != -1 {
		t.Fatal("empty grid")
	}
}

// TestPenaltyFocuses checks the trade-off on planted data: a strong L1
// concentrates each label's mass on fewer neurons than no penalty.
func TestPenaltyFocuses(t *testing.T) {
	d, _, err := synthetic.Dataset(3000, 4, synthetic.DefaultConfig(60))
	if err != nil {
		t.Fatal(err)
	}
	train, _ := d.Subset([]dataset.Span{{Start: 0, End: 2400}})
	dev, _ := d.Subset([]dataset.Span{{Start: 2400, End: 3000}})
	res, err := Run(cpu.New(), train, dev, Options{L1s: []float64{0, 1e-2}, L2s: []float64{0}, Probe: probe.DefaultConfig(probe.ModeFast)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	none, strong := res.Points[0], res.Points[1]
	if strong.Union >= none.Union || strong.MeanPerLabel >= none.MeanPerLabel {
		t.Fatalf("λ1 = 1e-2 gives %d neurons (%.1f per label), none gives %d (%.1f)", strong.Union, strong.MeanPerLabel, none.Union, none.MeanPerLabel)
	}
	if none.DevAccuracy < 0.8 || strong.DevAccuracy < 0.5 {
		t.Fatalf("dev accuracies %.3f, %.3f", none.DevAccuracy, strong.DevAccuracy)
	}
	if res.Chosen < 0 || res.Chosen > 1 {
		t.Fatalf("chosen %d", res.Chosen)
	}
	t.Logf("no penalty: %d neurons, acc %.3f; λ1=1e-2: %d neurons, acc %.3f", none.Union, none.DevAccuracy, strong.Union, strong.DevAccuracy)
}
