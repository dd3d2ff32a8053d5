package gridsearch

import (
	"math"
	"strings"
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
	if got := Choose(pts, 0); got != 0 {
		t.Fatalf("Choose with no slack = %d, want the best accuracy, 0", got)
	}
	if Choose(nil, 0.01) != -1 {
		t.Fatal("empty grid")
	}
	// A negative or NaN tolerance admits the best accuracy alone; it used
	// to leave no candidate and panic.
	for _, tol := range []float64{-1, math.NaN(), math.Inf(-1)} {
		if got := Choose(pts, tol); got != 0 {
			t.Fatalf("Choose with tolerance %v = %d, want 0", tol, got)
		}
	}
	// Exactly one point below the best is within one point, although
	// 2503/5000 − 0.01 rounds above 2453/5000.
	edge := []Point{{DevAccuracy: 2503.0 / 5000, Union: 9}, {DevAccuracy: 2453.0 / 5000, Union: 3}}
	if got := Choose(edge, 0.01); got != 1 {
		t.Fatalf("Choose of a point exactly 0.01 below = %d, want 1", got)
	}
	// Ties at the best accuracy still go by the union.
	tie := []Point{{DevAccuracy: 0.9, Union: 9}, {DevAccuracy: 0.9, Union: 3}}
	if got := Choose(tie, -1); got != 1 {
		t.Fatalf("Choose of a tie with tolerance -1 = %d, want 1", got)
	}
	// A NaN accuracy is below every number, and all-NaN still chooses.
	nan := math.NaN()
	if got := Choose([]Point{{DevAccuracy: nan, Union: 1}, {DevAccuracy: 0.5, Union: 7}}, 0.01); got != 1 {
		t.Fatalf("Choose with a NaN accuracy = %d, want 1", got)
	}
	if got := Choose([]Point{{DevAccuracy: nan}, {DevAccuracy: nan}}, 0.01); got < 0 || got > 1 {
		t.Fatalf("Choose of NaN accuracies = %d", got)
	}
}

// TestRunRejectsBadOptions checks that invalid options are an error naming
// the field before any probe is trained (the nil datasets would panic in
// training).
func TestRunRejectsBadOptions(t *testing.T) {
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Tolerance: -1}, "Tolerance -1 outside [0, 1]"},
		{Options{Tolerance: math.NaN()}, "Tolerance NaN outside [0, 1]"},
		{Options{Tolerance: 1.5}, "Tolerance 1.5 outside [0, 1]"},
		{Options{L1s: []float64{0, math.NaN()}}, "L1s[1] = NaN"},
		{Options{L2s: []float64{-1e-3}}, "L2s[0] = -0.001"},
		{Options{L2s: []float64{math.Inf(1)}}, "L2s[0] = +Inf"},
	} {
		if _, err := Run(cpu.New(), nil, nil, c.opt, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error containing %q", c.opt, err, c.want)
		}
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
	// Tolerance 0 is taken as given (the best accuracy only), not as a
	// default.
	if best := max(none.DevAccuracy, strong.DevAccuracy); res.Tolerance != 0 || res.Points[res.Chosen].DevAccuracy != best {
		t.Fatalf("tolerance %g, chosen %d with accuracy %.4f, best %.4f", res.Tolerance, res.Chosen, res.Points[res.Chosen].DevAccuracy, best)
	}
	t.Logf("no penalty: %d neurons, acc %.3f; λ1=1e-2: %d neurons, acc %.3f", none.Union, none.DevAccuracy, strong.Union, strong.DevAccuracy)
}
