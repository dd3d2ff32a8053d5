// Package lca runs Linguistic Correlation Analysis end to end (Dalvi et al.
// 2019): train an elastic-net probe from activations to a linguistic
// property, score it (with the majority baseline and, optionally, the
// control task's selectivity), rank the neurons by the probe's weights,
// measure how focused each label is (how many neurons hold 25% of its
// weight mass), and run the classifier ablation on the ranking.
package lca

import (
	"fmt"
	"sort"

	"github.com/grainlab/grain/analysis/ablation"
	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
)

// Options configure Run.
type Options struct {
	Probe probe.Config
	// Control also trains a control-task probe and reports selectivity.
	Control bool
	// Stride is the ordering's search stride (default 100).
	Stride int
	// Ablation configures the classifier ablation; nil skips it.
	Ablation *ablation.Options
}

// Focus is how many neurons hold 25% of one label's weight mass.
type Focus struct {
	Label   string `json:"label"`
	Count   int    `json:"count"`
	Neurons []int  `json:"neurons"`
	// TrainCount is the number of training tokens with the label.
	TrainCount int `json:"train_count"`
}

// LabelPair is two labels whose focus lists (the neurons holding 25% of
// each label's weight mass) share neurons: related labels (opening and
// closing quotes, comparative adjectives and adverbs) share more than
// chance.
type LabelPair struct {
	A string `json:"a"`
	B string `json:"b"`
	// Shared is the number of neurons in both focus lists, listed in
	// Neurons (ascending).
	Shared  int   `json:"shared"`
	Neurons []int `json:"neurons"`
	// Chance is the number expected of lists of these sizes drawn at
	// random from the n neurons: |A|·|B|/n.
	Chance float64 `json:"chance"`
}

// Report is the outcome of an LCA run.
type Report struct {
	TrainTokens int           `json:"train_tokens"`
	TestTokens  int           `json:"test_tokens"`
	Neurons     int           `json:"neurons"`
	Labels      []string      `json:"labels"`
	Training    *probe.Log    `json:"training"`
	Test        probe.Metrics `json:"test"`
	// Control holds the control-task metrics when asked for.
	Control *probe.Metrics `json:"control,omitempty"`
	// Selectivity is test accuracy − control accuracy.
	Selectivity *float64 `json:"selectivity,omitempty"`
	// Ordering ranks all neurons, most important first.
	Ordering ranking.Ordering `json:"ordering"`
	// Focus lists labels from the most focused (fewest neurons for 25% of
	// the weight mass) to the most distributed.
	Focus []Focus `json:"focus"`
	// FocusFrequency is the labels' focus against how often each was seen
	// in training (nil where no fit exists: see FitFrequency).
	FocusFrequency *FrequencyFit `json:"focus_frequency,omitempty"`
	// SharedLabels lists the pairs of labels whose focus lists share
	// neurons, the largest Shared / Chance first.
	SharedLabels []LabelPair       `json:"shared_labels"`
	Ablation     []ablation.Result `json:"ablation,omitempty"`
	// Columns, set by the caller when the datasets hold some of an
	// activation file's neurons, is the global neuron index of each
	// column: Ordering, Focus and SharedLabels index the columns (as a
	// ranking file's Columns).
	Columns []int `json:"columns,omitempty"`
}

// Run performs the analysis and returns the report and the trained probe.
func Run(b engine.Backend, train, test *dataset.Dataset, opt Options, rep progress.Reporter) (*Report, *probe.Probe, error) {
	if rep == nil {
		rep = progress.Nop
	}
	if opt.Stride == 0 {
		opt.Stride = ranking.DefaultStride
	}
	p, log, err := probe.Train(b, train, opt.Probe, rep)
	if err != nil {
		return nil, nil, err
	}
	majority := probe.MajorityOf(train.Y, len(train.Labels))
	m, err := probe.Evaluate(b, p, test, majority)
	if err != nil {
		return nil, nil, err
	}
	rows, cols := train.X.Dims()
	testRows, _ := test.X.Dims()
	r := &Report{TrainTokens: rows, TestTokens: testRows, Neurons: cols, Labels: train.Labels, Training: log, Test: m}
	if opt.Control {
		c, err := probe.Selectivity(b, train, test, opt.Probe, rep)
		if err != nil {
			return nil, nil, err
		}
		sel := m.Accuracy - c.Accuracy
		r.Control, r.Selectivity = &c, &sel
	}
	rk, err := ranking.NewRanker(p.Weight, len(p.Labels), p.Neurons)
	if err != nil {
		return nil, nil, err
	}
	r.Ordering = rk.Ordering(opt.Stride)
	top := rk.TopNeurons(0.25)
	counts := train.Counts()
	for l, list := range top.PerLabel {
		if counts[l] == 0 {
			continue
		}
		r.Focus = append(r.Focus, Focus{Label: p.Labels[l], Count: len(list), Neurons: list, TrainCount: counts[l]})
	}
	sort.SliceStable(r.Focus, func(i, j int) bool { return r.Focus[i].Count < r.Focus[j].Count })
	r.FocusFrequency = FitFrequency(r.Focus)
	r.SharedLabels = sharedLabels(r.Focus, cols)
	if opt.Ablation != nil {
		a := *opt.Ablation
		if a.Probe.Mode == "" {
			a.Probe = opt.Probe
		}
		if r.Ablation, err = ablation.Run(b, p, r.Ordering.Neurons, train, test, a, rep); err != nil {
			return nil, nil, fmt.Errorf("ablation: %w", err)
		}
	}
	return r, p, nil
}

// sharedLabels returns the pairs of focus lists (over n neurons) that share
// at least one neuron, by descending Shared / Chance (compared exactly, as
// Shared_i·|A_j|·|B_j| against Shared_j·|A_i|·|B_i|; ties: more shared
// first, then the pair's order in focus).
func sharedLabels(focus []Focus, n int) []LabelPair {
	type sized struct {
		LabelPair
		sizes int // |A|·|B|
	}
	var found []sized
	for i, a := range focus {
		in := make(map[int]bool, len(a.Neurons))
		for _, x := range a.Neurons {
			in[x] = true
		}
		for _, b := range focus[i+1:] {
			p := sized{LabelPair{A: a.Label, B: b.Label, Neurons: []int{}}, len(a.Neurons) * len(b.Neurons)}
			p.Chance = float64(p.sizes) / float64(n)
			for _, x := range b.Neurons {
				if in[x] {
					p.Neurons = append(p.Neurons, x)
				}
			}
			if p.Shared = len(p.Neurons); p.Shared > 0 {
				sort.Ints(p.Neurons)
				found = append(found, p)
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		if li, lj := found[i].Shared*found[j].sizes, found[j].Shared*found[i].sizes; li != lj {
			return li > lj
		}
		return found[i].Shared > found[j].Shared
	})
	pairs := make([]LabelPair, len(found))
	for i, p := range found {
		pairs[i] = p.LabelPair
	}
	return pairs
}
