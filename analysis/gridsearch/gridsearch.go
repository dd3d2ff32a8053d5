// Package gridsearch chooses the elastic-net strengths (λ1, λ2) of a probe,
// reproducing the trade-off of Dalvi et al. (2019, Figure 2): stronger
// penalties concentrate a label's weight mass on fewer neurons at some cost
// in accuracy.
//
// For every (λ1, λ2) of the grid, a probe is trained on the training split
// and scored on a dev split, and the focus of its weights is measured as the
// number of neurons that hold 25% of each label's weight mass (NeuroX's
// get_top_neurons at p = 0.25): per label, and as the union over labels.
//
// Choice rule: among the settings whose dev accuracy is within Tolerance
// (default 0.01, i.e. one point) of the best, take the one with the smallest
// 25%-mass union; ties go to the larger λ1+λ2, then the larger λ1.
package gridsearch

import (
	"fmt"
	"math"
	"sort"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
)

// DefaultLambdas is the default grid for both λ1 and λ2.
var DefaultLambdas = []float64{0, 1e-5, 1e-4, 1e-3, 1e-2}

// MassShare is the weight-mass share whose neuron count measures focus.
const MassShare = 0.25

// Point is one setting of the grid.
type Point struct {
	L1 float64 `json:"l1"`
	L2 float64 `json:"l2"`
	// DevAccuracy is the probe's accuracy on the dev split.
	DevAccuracy float64 `json:"dev_accuracy"`
	// Union is the number of neurons in the union over labels of the
	// neurons holding 25% of each label's weight mass.
	Union int `json:"neurons_25pct_union"`
	// PerLabel is that count per label (in label order).
	PerLabel []int `json:"neurons_25pct_per_label"`
	// MeanPerLabel is the mean of PerLabel.
	MeanPerLabel float64 `json:"neurons_25pct_mean"`
}

// Result is a finished grid search.
type Result struct {
	Points []Point `json:"points"`
	// Chosen indexes Points by the choice rule.
	Chosen    int     `json:"chosen"`
	Tolerance float64 `json:"tolerance"`
}

// DefaultTolerance is the choice rule's default accuracy slack: 1 point.
const DefaultTolerance = 0.01

// Options configure Run.
type Options struct {
	// L1s and L2s are the grid's λ1 and λ2 values (empty: DefaultLambdas),
	// each a finite number ≥ 0.
	L1s, L2s []float64
	// Tolerance is the accuracy slack of the choice rule, in [0, 1] (0:
	// only the settings of the best accuracy; DefaultTolerance, one
	// point, is grain's default, not a figure from the paper or NeuroX,
	// which has no grid search).
	Tolerance float64
	// Probe is the training configuration; its L1 and L2 are overridden.
	Probe probe.Config
}

// check fills in the defaults and validates the options, naming the field
// at fault.
func (opt *Options) check() error {
	if len(opt.L1s) == 0 {
		opt.L1s = DefaultLambdas
	}
	if len(opt.L2s) == 0 {
		opt.L2s = DefaultLambdas
	}
	if !(opt.Tolerance >= 0 && opt.Tolerance <= 1) { // NaN too
		return fmt.Errorf("gridsearch: Tolerance %g outside [0, 1]", opt.Tolerance)
	}
	for _, f := range []struct {
		name string
		vs   []float64
	}{{"L1s", opt.L1s}, {"L2s", opt.L2s}} {
		for i, v := range f.vs {
			if !(v >= 0 && v <= math.MaxFloat64) {
				return fmt.Errorf("gridsearch: %s[%d] = %g is not a finite number ≥ 0", f.name, i, v)
			}
		}
	}
	return nil
}

// Run trains one probe per grid point on train, scores it on dev, and
// applies the choice rule. Invalid options are an error before anything
// is trained.
func Run(b engine.Backend, train, dev *dataset.Dataset, opt Options, rep progress.Reporter) (*Result, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	if rep == nil {
		rep = progress.Nop
	}
	majority := probe.MajorityOf(train.Y, len(train.Labels))
	res := &Result{Tolerance: opt.Tolerance}
	bar := rep.Start("grid search", int64(len(opt.L1s)*len(opt.L2s)))
	defer bar.Finish()
	for _, l1 := range opt.L1s {
		for _, l2 := range opt.L2s {
			cfg := opt.Probe
			cfg.L1, cfg.L2 = l1, l2
			p, _, err := probe.Train(b, train, cfg, nil)
			if err != nil {
				return nil, fmt.Errorf("λ1=%g λ2=%g: %w", l1, l2, err)
			}
			m, err := probe.Evaluate(b, p, dev, majority)
			if err != nil {
				return nil, err
			}
			pt, err := focus(p)
			if err != nil {
				return nil, err
			}
			pt.L1, pt.L2, pt.DevAccuracy = l1, l2, m.Accuracy
			res.Points = append(res.Points, pt)
			bar.Add(1)
			bar.SetStatus(fmt.Sprintf("λ1=%g λ2=%g acc %.4f, %d neurons hold 25%%", l1, l2, m.Accuracy, pt.Union))
		}
	}
	res.Chosen = Choose(res.Points, opt.Tolerance)
	return res, nil
}

// focus measures how many neurons hold 25% of each label's weight mass.
func focus(p *probe.Probe) (Point, error) {
	r, err := ranking.NewRanker(p.Weight, len(p.Labels), p.Neurons)
	if err != nil {
		return Point{}, err
	}
	sel := r.TopNeurons(MassShare)
	pt := Point{Union: len(sel.Union)}
	var sum int
	for _, l := range sel.PerLabel {
		pt.PerLabel = append(pt.PerLabel, len(l))
		sum += len(l)
	}
	pt.MeanPerLabel = float64(sum) / float64(len(sel.PerLabel))
	return pt, nil
}

// withinRounding absorbs the rounding of accuracies (count ratios) and
// their differences, so that a point exactly Tolerance below the best, such
// as 2453/5000 against 2503/5000, is within it.
const withinRounding = 1e-12

// Choose applies the choice rule (see the package documentation) and
// returns the index of the chosen point, or -1 if there are none. It never
// fails: the points with the best accuracy are always candidates, so a
// negative or NaN tolerance admits those alone, and a NaN accuracy is
// below every number.
func Choose(points []Point, tolerance float64) int {
	if len(points) == 0 {
		return -1
	}
	bi := 0
	for i, p := range points {
		if p.DevAccuracy > points[bi].DevAccuracy || math.IsNaN(points[bi].DevAccuracy) {
			bi = i
		}
	}
	best := points[bi].DevAccuracy
	var cand []int
	for i, p := range points {
		if i == bi || p.DevAccuracy == best || best-p.DevAccuracy <= tolerance+withinRounding {
			cand = append(cand, i)
		}
	}
	sort.SliceStable(cand, func(a, b int) bool {
		p, q := points[cand[a]], points[cand[b]]
		if p.Union != q.Union {
			return p.Union < q.Union
		}
		if p.L1+p.L2 != q.L1+q.L2 {
			return p.L1+p.L2 > q.L1+q.L2
		}
		return p.L1 > q.L1
	})
	return cand[0]
}
