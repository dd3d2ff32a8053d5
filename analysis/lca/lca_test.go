package lca

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grainlab/grain/analysis/ablation"
	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/engine/cpu"
)

// TestRunOnPlantedNeurons runs the whole analysis on planted-neuron data
// (6 labels, 2 planted neurons and a copy each among 60) whose tokens are
// words drawn independently of the labels, so the control task has nothing
// to read: the report must find the planted neurons, order the labels by
// focus, show a large selectivity and a top-over-bottom ablation gap.
func TestRunOnPlantedNeurons(t *testing.T) {
	const n, neurons = 6000, 60
	all, truth, err := synthetic.Dataset(n, 6, synthetic.DefaultConfig(neurons))
	if err != nil {
		t.Fatal(err)
	}
	words := rand.New(rand.NewPCG(3, 3))
	all.Tokens = make([]string, n)
	for i := range all.Tokens {
		all.Tokens[i] = fmt.Sprintf("w%d", words.IntN(400))
	}
	split := func(lo, hi int) *dataset.Dataset {
		x, err := dataset.NewDense(all.X.(*dataset.Dense).RowSlice(lo, hi-lo), hi-lo, neurons)
		if err != nil {
			t.Fatal(err)
		}
		return &dataset.Dataset{X: x, Y: all.Y[lo:hi], Labels: all.Labels, Tokens: all.Tokens[lo:hi]}
	}
	train, test := split(0, 5000), split(5000, n)
	pc := probe.DefaultConfig(probe.ModeFast)
	pc.L1, pc.L2 = 1e-4, 1e-4
	rep, p, err := Run(cpu.New(), train, test, Options{Probe: pc, Control: true,
		Ablation: &ablation.Options{Percents: []float64{10}, Retrain: true, Seed: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Neurons != neurons || rep.Neurons != neurons || rep.TrainTokens != 5000 || rep.TestTokens != 1000 {
		t.Fatalf("report sizes: probe %d neurons, report %d neurons, %d/%d tokens", p.Neurons, rep.Neurons, rep.TrainTokens, rep.TestTokens)
	}
	if rep.Selectivity == nil {
		t.Fatal("no selectivity although the control task was asked for")
	}
	if rep.Test.Accuracy < 0.9 || *rep.Selectivity < 0.3 {
		t.Errorf("accuracy %.3f, selectivity %.3f", rep.Test.Accuracy, *rep.Selectivity)
	}
	if !slices.Equal(slices.Sorted(slices.Values(rep.Ordering.Neurons)), seq(neurons)) {
		t.Fatalf("ordering is not a permutation of the %d neurons: %v", neurons, rep.Ordering.Neurons)
	}
	carriers := truth.Carriers()
	hits := 0
	for _, j := range rep.Ordering.Neurons[:len(carriers)] {
		if slices.Contains(carriers, j) {
			hits++
		}
	}
	if hits < len(carriers)-1 {
		t.Errorf("%d of the first %d ranked neurons carry a label", hits, len(carriers))
	}
	if len(rep.Focus) != 6 || !slices.IsSortedFunc(rep.Focus, func(a, b Focus) int { return a.Count - b.Count }) {
		t.Errorf("focus %+v: want all 6 labels, most focused first", rep.Focus)
	}
	t.Logf("accuracy %.3f, selectivity %.3f, focus %v", rep.Test.Accuracy, *rep.Selectivity, rep.Focus)
	counts := train.Counts()
	for _, f := range rep.Focus {
		if l := slices.Index(train.Labels, f.Label); f.TrainCount != counts[l] {
			t.Errorf("label %s: train count %d, want %d", f.Label, f.TrainCount, counts[l])
		}
	}
	if rep.FocusFrequency == nil || fmt.Sprint(rep.FocusFrequency) != fmt.Sprint(FitFrequency(rep.Focus)) {
		t.Errorf("report's focus against frequency %+v, from its focus lists %+v", rep.FocusFrequency, FitFrequency(rep.Focus))
	}
	if fmt.Sprint(rep.SharedLabels) != fmt.Sprint(sharedLabels(rep.Focus, neurons)) {
		t.Errorf("report's shared labels %v, from its focus lists %v", rep.SharedLabels, sharedLabels(rep.Focus, neurons))
	}
	if len(rep.Ablation) != len(ranking.Picks) {
		t.Fatalf("%d ablation rows", len(rep.Ablation))
	}
	got := map[ranking.Pick]float64{}
	for _, a := range rep.Ablation {
		got[a.Selection] = *a.Retrained
	}
	if got[ranking.PickTop] < got[ranking.PickBottom]+0.3 {
		t.Errorf("retrained on the top 10%%: %.3f, bottom 10%%: %.3f", got[ranking.PickTop], got[ranking.PickBottom])
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestSharedLabels: pairs of focus lists sharing neurons, by shared over
// chance (|A|·|B|/n), pairs sharing none left out.
func TestSharedLabels(t *testing.T) {
	got := sharedLabels([]Focus{
		{Label: "A", Neurons: []int{7, 3}},
		{Label: "B", Neurons: []int{3, 9, 5, 7}},
		{Label: "C", Neurons: []int{5, 3, 1}},
		{Label: "D", Neurons: []int{8}},
	}, 10)
	// A–B: 2 shared, chance 0.8 (2.5×); A–C: 1, 0.6 (1.67×); B–C: 2, 1.2 (1.67×).
	want := []LabelPair{
		{A: "A", B: "B", Shared: 2, Neurons: []int{3, 7}, Chance: 0.8},
		{A: "B", B: "C", Shared: 2, Neurons: []int{3, 5}, Chance: 1.2},
		{A: "A", B: "C", Shared: 1, Neurons: []int{3}, Chance: 0.6},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pairs %v\nwant  %v", got, want)
	}
	// Equal ratios whose float64 quotients differ in the last bit (1/22 and
	// 3/66 over n = 768): the pair sharing more comes first.
	ties := sharedLabels([]Focus{
		{Label: "X", Neurons: []int{0}}, {Label: "Y", Neurons: seq(22)},
		{Label: "P", Neurons: []int{100, 1, 2}}, {Label: "Q", Neurons: append(seq(21)[1:], 100, 101)},
	}, 768)
	if len(ties) < 2 || ties[0].A != "P" || ties[0].B != "Q" || ties[0].Shared != 3 {
		t.Fatalf("equal ratios: %v, want P & Q (3 shared) first", ties)
	}
	if got := sharedLabels([]Focus{{Label: "A", Neurons: []int{1}}, {Label: "B", Neurons: []int{2}}}, 4); got == nil || len(got) != 0 {
		t.Fatalf("disjoint lists: %v, want an empty list", got)
	}
}
