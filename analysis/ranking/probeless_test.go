package ranking

import (
	"math"
	"slices"
	"testing"
)

func TestProbeless(t *testing.T) {
	// Label means μ0 = [0, 1, 5], μ1 = [2, 1, 5], μ2 = [4, 0, 5], label 3
	// has no rows.
	rows := []float32{
		-1, 1, 5, // label 0
		3, 1, 5, // label 1
		4, 0, 5, // label 2
		1, 1, 5, // label 0
		1, 1, 5, // label 1
	}
	labels := []int32{0, 1, 2, 0, 1}
	acc := NewMeanAccumulator(4, 3)
	// Streaming in two parts gives the same means as one call.
	if err := acc.Add(rows[:9], 3, labels[:3]); err != nil {
		t.Fatal(err)
	}
	if err := acc.Add(rows[9:], 3, labels[3:]); err != nil {
		t.Fatal(err)
	}
	means, counts := acc.Means()
	if !slices.Equal(counts, []int64{2, 2, 1, 0}) || means[3] != nil {
		t.Fatalf("counts %v, means %v", counts, means)
	}
	for c, want := range [][]float64{{0, 1, 5}, {2, 1, 5}, {4, 0, 5}} {
		if !slices.Equal(means[c], want) {
			t.Errorf("mean %d = %v, want %v", c, means[c], want)
		}
	}
	pr := Probeless(means)
	// Neuron 0: 2 + 4 + 2 = 8; neuron 1: 0 + 1 + 1 = 2; neuron 2: 0.
	if !slices.Equal(pr.Scores, []float64{8, 2, 0}) || !slices.Equal(pr.Overall, []int{0, 1, 2}) {
		t.Errorf("scores %v, overall %v", pr.Scores, pr.Overall)
	}
	// Label 1: neuron 0: 2 + 2 = 4, neuron 1: 0 + 1 = 1.
	if !slices.Equal(pr.LabelScores[1], []float64{4, 1, 0}) || !slices.Equal(pr.PerLabel[1], []int{0, 1, 2}) {
		t.Errorf("label 1: scores %v, ranking %v", pr.LabelScores[1], pr.PerLabel[1])
	}
	if pr.PerLabel[3] != nil || pr.LabelScores[3] != nil {
		t.Error("label without rows has a ranking")
	}
	// Ties: lower index first.
	tie := Probeless([][]float64{{1, 1, 0, 1}, {0, 0, 0, 0}})
	if !slices.Equal(tie.Overall, []int{0, 1, 3, 2}) {
		t.Errorf("tie order %v", tie.Overall)
	}
}

func TestMeanAccumulatorErrors(t *testing.T) {
	acc := NewMeanAccumulator(2, 2)
	cases := map[string]func() error{
		"columns":  func() error { return acc.Add([]float32{1, 2}, 1, []int32{0, 0}) },
		"length":   func() error { return acc.Add([]float32{1, 2, 3}, 2, []int32{0}) },
		"label":    func() error { return acc.Add([]float32{1, 2}, 2, []int32{2}) },
		"negative": func() error { return acc.Add([]float32{1, 2}, 2, []int32{-1}) },
		"NaN":      func() error { return acc.Add([]float32{1, 2, 3, float32(math.NaN())}, 2, []int32{0, 1}) },
		"infinity": func() error { return acc.Add([]float32{float32(math.Inf(1)), 2}, 2, []int32{0}) },
	}
	for name, f := range cases {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, counts := acc.Means(); !slices.Equal(counts, []int64{0, 0}) {
		t.Errorf("failed Add changed the counts: %v", counts)
	}
	for name, f := range map[string]func(){
		"ragged":  func() { Probeless([][]float64{{1, 2}, {1}}) },
		"empty":   func() { Probeless([][]float64{nil, nil}) },
		"no cols": func() { NewMeanAccumulator(1, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
