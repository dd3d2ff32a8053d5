package ablation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/engine/cpu"
)

// planted returns train/test splits of a planted-neuron set: 8 labels,
// 2 planted neurons per label plus 1 correlated copy, 200 neurons in all.
func planted(t *testing.T) (train, test *dataset.Dataset, truth *synthetic.Truth) {
	t.Helper()
	cfg := synthetic.DefaultConfig(200)
	cfg.Seed = 11
	d, truth, err := synthetic.Dataset(8000, 8, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if train, err = d.Subset([]dataset.Span{{Start: 0, End: 6000}}); err != nil {
		t.Fatal(err)
	}
	if test, err = d.Subset([]dataset.Span{{Start: 6000, End: 8000}}); err != nil {
		t.Fatal(err)
	}
	return train, test, truth
}

func contains(set []int, j int) bool {
	for _, v := range set {
		if v == j {
			return true
		}
	}
	return false
}

// TestPlantedNeurons checks the whole LCA chain on data where the truth is
// known, for both training modes.
func TestPlantedNeurons(t *testing.T) {
	train, test, truth := planted(t)
	carriers := truth.Carriers()
	b := cpu.New()
	for _, mode := range []probe.Mode{probe.ModeNeuroX, probe.ModeFast} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := probe.DefaultConfig(mode)
			cfg.L1, cfg.L2 = 1e-4, 1e-4
			p, _, err := probe.Train(b, train, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			maj := probe.MajorityOf(train.Y, len(train.Labels))
			full, err := probe.Evaluate(b, p, test, maj)
			if err != nil {
				t.Fatal(err)
			}
			if full.Accuracy < 0.9 {
				t.Fatalf("probe accuracy %.3f on planted data, want ≥ 0.9", full.Accuracy)
			}
			r, err := ranking.NewRanker(p.Weight, len(p.Labels), p.Neurons)
			if err != nil {
				t.Fatal(err)
			}
			// The neurons holding 25% of each label's mass are planted
			// neurons or their copies (a label's probe row also weighs
			// the other labels' neurons, negatively), and together they
			// include every planted neuron.
			sel := r.TopNeurons(0.25)
			for _, j := range sel.Union {
				if !contains(carriers, j) {
					t.Errorf("neuron %d in the top 25%% mass is not planted", j)
				}
			}
			for _, j := range truth.PlantedSet() {
				if !contains(sel.Union, j) {
					t.Errorf("planted neuron %d is missing from the top 25%% mass %v", j, sel.Union)
				}
			}
			// The overall ordering starts with the carriers.
			ord := r.Ordering(ranking.DefaultStride)
			head := ord.Neurons[:len(carriers)]
			hits := 0
			for _, j := range head {
				if contains(carriers, j) {
					hits++
				}
			}
			if hits < len(carriers)-1 {
				t.Errorf("only %d of the first %d ranked neurons are planted: %v vs %v", hits, len(carriers), head, carriers)
			}
			// Retraining on the top 10% beats the bottom 10% by far.
			res, err := Run(b, p, ord.Neurons, train, test, Options{
				Percents: []float64{10, 0}, Selections: []ranking.Pick{ranking.PickTop, ranking.PickBottom}, Retrain: true, Probe: cfg, Seed: 1,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			top, bottom := res[0], res[1]
			// Kept no neurons, the retrained probe is the majority baseline.
			if none := res[2]; none.Neurons != 0 || *none.Retrained != full.Majority || full.Majority <= 0 {
				t.Errorf("no neurons kept: %+v, want retrained accuracy = majority baseline %.3f", none, full.Majority)
			}
			if *top.Retrained < *bottom.Retrained+0.3 {
				t.Errorf("retrained top 10%% %.3f vs bottom 10%% %.3f: want a gap ≥ 0.3", *top.Retrained, *bottom.Retrained)
			}
			// Zeroing the planted neurons (and their copies) leaves the
			// probe near the majority baseline.
			zx, err := dataset.ZeroColumns(test.X, carriers)
			if err != nil {
				t.Fatal(err)
			}
			zt, _ := test.WithX(zx)
			zm, err := probe.Evaluate(b, p, zt, maj)
			if err != nil {
				t.Fatal(err)
			}
			if zm.Accuracy > full.Majority+0.1 {
				t.Errorf("with planted neurons zeroed accuracy is %.3f, majority baseline %.3f", zm.Accuracy, full.Majority)
			}
			t.Logf("%s: acc %.3f, top25%% %v, retrained top10 %.3f bottom10 %.3f, zeroed %.3f (majority %.3f)",
				mode, full.Accuracy, sel.Union, *top.Retrained, *bottom.Retrained, zm.Accuracy, full.Majority)
		})
	}
}

// TestRetrainedZeroIsKept: a retrained accuracy of 0 is written to JSON;
// only a row without retraining omits it.
func TestRetrainedZeroIsKept(t *testing.T) {
	zero := 0.0
	for _, c := range []struct {
		r    Result
		want bool
	}{{Result{Retrained: &zero}, true}, {Result{}, false}} {
		b, err := json.Marshal(c.r)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), `"retrained_accuracy":0`); got != c.want {
			t.Errorf("%s: retrained_accuracy present %v, want %v", b, got, c.want)
		}
	}
}
