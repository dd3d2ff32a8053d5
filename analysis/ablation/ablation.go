// Package ablation measures how much a probe's accuracy depends on chosen
// neurons, the classifier ablation of Dalvi et al. (2019, Table 4): for the
// top, bottom or random N% of a neuron ordering it reports
//
//   - zeroed:    the probe trained on all neurons, evaluated on test
//     activations in which every other neuron is set to 0
//     (NeuroX's zero_out_activations_keep_neurons), and
//   - retrained: a new probe trained and evaluated on those neurons only
//     (NeuroX's filter_activations_keep_neurons).
//
// The selections are ranking.PickNeurons's: top N% is the first round(N·n/100)
// neurons of the ordering, bottom N% the last as many, and random N% a
// seeded uniform sample of the same size (so all three keep equally many
// neurons; NeuroX's get_random_neurons keeps each neuron with probability
// N/100 instead).
package ablation

import (
	"fmt"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
)

// DefaultPercents are the neuron shares of the paper's Table 4.
var DefaultPercents = []float64{10, 15, 20, 25, 50, 100}

// Result is one row of the ablation table.
type Result struct {
	Selection ranking.Pick `json:"selection"`
	Percent   float64      `json:"percent"`
	Neurons   int          `json:"neurons"`
	// Zeroed is the full probe's test accuracy with all other neurons
	// zeroed.
	Zeroed float64 `json:"zeroed_accuracy"`
	// Retrained is the test accuracy of a probe trained on these neurons
	// only (nil, and omitted from JSON, when retraining was not asked for,
	// so that a retrained accuracy of 0 is told apart; for no neurons, the
	// majority baseline, which a bias-only probe reaches).
	Retrained *float64 `json:"retrained_accuracy,omitempty"`
}

// Options configure Run.
type Options struct {
	Percents   []float64
	Selections []ranking.Pick
	// Retrain also trains a probe on each selection (the expensive part).
	Retrain bool
	// Probe is the training configuration for retrained probes.
	Probe probe.Config
	Seed  uint64
}

// Run evaluates the full probe p under every selection and percentage.
// ordering ranks all of p's neurons (most important first).
func Run(b engine.Backend, p *probe.Probe, ordering []int, train, test *dataset.Dataset, opt Options, rep progress.Reporter) ([]Result, error) {
	if rep == nil {
		rep = progress.Nop
	}
	if len(opt.Percents) == 0 {
		opt.Percents = DefaultPercents
	}
	if len(opt.Selections) == 0 {
		opt.Selections = ranking.Picks
	}
	if len(ordering) != p.Neurons {
		return nil, fmt.Errorf("ordering lists %d neurons, want all %d of the probe's", len(ordering), p.Neurons)
	}
	majority := probe.MajorityOf(train.Y, len(train.Labels))
	bar := rep.Start("ablation", int64(len(opt.Percents)*len(opt.Selections)))
	defer bar.Finish()
	var out []Result
	for _, pc := range opt.Percents {
		for _, s := range opt.Selections {
			keep, err := ranking.PickNeurons(s, ordering, p.Neurons, pc, opt.Seed)
			if err != nil {
				return nil, err
			}
			r := Result{Selection: s, Percent: pc, Neurons: len(keep)}
			zx, err := dataset.KeepOnlyColumns(test.X, keep)
			if err != nil {
				return nil, err
			}
			zt, err := test.WithX(zx)
			if err != nil {
				return nil, err
			}
			m, err := probe.Evaluate(b, p, zt, majority)
			if err != nil {
				return nil, err
			}
			r.Zeroed = m.Accuracy
			switch {
			case !opt.Retrain:
			case len(keep) == 0:
				// A probe of no neurons has only its bias: trained, it
				// predicts the training majority label everywhere.
				maj := m.Majority
				r.Retrained = &maj
			default:
				acc, err := retrain(b, keep, train, test, majority, opt.Probe)
				if err != nil {
					return nil, err
				}
				r.Retrained = &acc
			}
			out = append(out, r)
			bar.Add(1)
		}
	}
	return out, nil
}

// retrain trains a probe on the kept columns only and returns its test
// accuracy.
func retrain(b engine.Backend, keep []int, train, test *dataset.Dataset, majority int32, cfg probe.Config) (float64, error) {
	tr, err := train.Columns(keep)
	if err != nil {
		return 0, err
	}
	te, err := test.Columns(keep)
	if err != nil {
		return 0, err
	}
	p, _, err := probe.Train(b, tr, cfg, nil)
	if err != nil {
		return 0, fmt.Errorf("retraining on %d neurons: %w", len(keep), err)
	}
	m, err := probe.Evaluate(b, p, te, majority)
	return m.Accuracy, err
}
