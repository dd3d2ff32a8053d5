package probe

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/progress"
)

// ControlTask implements the control task of Hewitt & Liang (2019): every
// word type gets one label drawn at random from the empirical label
// distribution of the training set, and every token of that type carries
// it. A probe that reaches high accuracy on a control task memorises word
// identity rather than reading the property from the representation;
// selectivity = task accuracy − control accuracy.
type ControlTask struct {
	labels []string
	cum    []float64
	byType map[string]int32
	rng    *rand.Rand
}

// NewControlTask draws the control labels of the training set's word types
// (in sorted type order, so the assignment depends only on the seed and the
// vocabulary). train must carry Tokens.
func NewControlTask(train *dataset.Dataset, seed uint64) *ControlTask {
	counts := train.Counts()
	c := &ControlTask{labels: train.Labels, byType: map[string]int32{}, rng: rand.New(rand.NewPCG(seed, 0xc0417))}
	var tot float64
	for _, n := range counts {
		tot += float64(n)
		c.cum = append(c.cum, tot)
	}
	types := map[string]bool{}
	for _, w := range train.Tokens {
		types[w] = true
	}
	sorted := make([]string, 0, len(types))
	for w := range types {
		sorted = append(sorted, w)
	}
	sort.Strings(sorted)
	for _, w := range sorted {
		c.byType[w] = c.draw()
	}
	return c
}

func (c *ControlTask) draw() int32 {
	u := c.rng.Float64() * c.cum[len(c.cum)-1]
	return int32(sort.SearchFloat64s(c.cum, u))
}

// Relabel returns d with each token's label replaced by its type's control
// label. Types never seen before get a fresh draw (remembered, so repeated
// tokens agree). d must carry Tokens.
func (c *ControlTask) Relabel(d *dataset.Dataset) (*dataset.Dataset, error) {
	if len(d.Tokens) != len(d.Y) {
		return nil, fmt.Errorf("control task: dataset has %d tokens for %d rows (token text is needed)", len(d.Tokens), len(d.Y))
	}
	out := d.WithLabels(c.labels, make([]int32, len(d.Y)))
	for i, w := range d.Tokens {
		l, ok := c.byType[w]
		if !ok {
			l = c.draw()
			c.byType[w] = l
		}
		out.Y[i] = l
	}
	return out, nil
}

// Selectivity trains a probe with cfg on the control-task labels of train
// and scores it on those of test; it returns the control metrics. The
// caller's task accuracy minus the returned accuracy is the selectivity.
func Selectivity(b engine.Backend, train, test *dataset.Dataset, cfg Config, rep progress.Reporter) (Metrics, error) {
	if len(train.Tokens) != len(train.Y) {
		return Metrics{}, fmt.Errorf("control task: training set carries no token text")
	}
	c := NewControlTask(train, cfg.Seed)
	ctrain, err := c.Relabel(train)
	if err != nil {
		return Metrics{}, err
	}
	ctest, err := c.Relabel(test)
	if err != nil {
		return Metrics{}, err
	}
	p, _, err := Train(b, ctrain, cfg, rep)
	if err != nil {
		return Metrics{}, fmt.Errorf("control probe: %w", err)
	}
	return Evaluate(b, p, ctest, MajorityOf(ctrain.Y, len(ctrain.Labels)))
}
