package ranking

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Defaults of NeuroX's get_neuron_ordering and get_neuron_ordering_granular.
const (
	DefaultStride      = 100
	DefaultGranularity = 50
)

// Ordering is a ranking of all neurons, most important first.
type Ordering struct {
	// Neurons is a permutation of all neurons.
	Neurons []int `json:"neurons"`
	// Cutoffs[i] is the length of the ordering after step i: the neurons
	// between two cutoffs were added in the same step. Neurons after the
	// last cutoff were selected by no step (see the package documentation).
	Cutoffs []int `json:"cutoffs"`
}

// growth adds the unions U_k of TopNeurons(k/stride) to an ordering step by
// step. Because the cuts grow with p, U_k contains U_{k−1}, and the neurons
// new in step k are those between each label's previous cut and its new one
// that are not ordered yet.
type growth struct {
	r        *Ranker
	cuts     [][]int // cuts[k][l]: label l's TopNeurons count at p = k/stride
	sizes    []int   // sizes[k] = |U_k|
	prev     []int   // per label: the cut already added to ordered
	ordered  []bool
	ordering []int
}

func (r *Ranker) newGrowth(stride int) *growth {
	if stride < 1 {
		panic(fmt.Sprintf("ranking: stride %d < 1", stride))
	}
	g := &growth{r: r, cuts: make([][]int, stride+1), sizes: make([]int, stride+1)}
	for k := range g.cuts {
		p := float64(k) / float64(stride)
		g.cuts[k] = make([]int, r.labels)
		for l := range g.cuts[k] {
			g.cuts[k][l] = cut(r.row(r.cumDesc, l), r.totals[l], p)
		}
	}
	// A first pass measures |U_k|, which GranularOrdering needs up front.
	g.reset()
	for k := range g.cuts {
		g.advance(k)
		g.sizes[k] = len(g.ordering)
	}
	g.reset()
	return g
}

func (g *growth) reset() {
	g.prev = make([]int, g.r.labels)
	g.ordered = make([]bool, g.r.neurons)
	g.ordering = make([]int, 0, g.r.neurons)
}

// advance appends U_k \ ordered to the ordering, by descending mass and then
// ascending index, and returns the appended neurons.
func (g *growth) advance(k int) []int {
	start := len(g.ordering)
	n := g.r.neurons
	for l, c := range g.cuts[k] {
		asc := g.r.row32(g.r.asc, l)
		for i := g.prev[l]; i < c; i++ {
			if j := int(asc[n-1-i]); !g.ordered[j] {
				g.ordered[j] = true
				g.ordering = append(g.ordering, j)
			}
		}
		g.prev[l] = max(g.prev[l], c)
	}
	added := g.ordering[start:]
	g.r.sortByMass(added)
	return added
}

// finish appends the neurons that no step selected, in mass order.
func (g *growth) finish() []int {
	start := len(g.ordering)
	for j, ok := range g.ordered {
		if !ok {
			g.ordering = append(g.ordering, j)
		}
	}
	g.r.sortByMass(g.ordering[start:])
	return g.ordering
}

// sortByMass sorts neurons by descending Σ_l |W[l][j]|, ties by ascending
// index.
func (r *Ranker) sortByMass(neurons []int) {
	slices.SortFunc(neurons, func(a, b int) int {
		if c := cmp.Compare(r.mass[b], r.mass[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
}

// Ordering ranks all neurons by adding, for k = 0 … stride, the union over
// labels of TopNeurons(k/stride) (NeuroX get_neuron_ordering); it records
// stride+1 cutoffs. It panics if stride < 1.
func (r *Ranker) Ordering(stride int) Ordering {
	g := r.newGrowth(stride)
	cutoffs := make([]int, 0, stride+1)
	for k := range g.cuts {
		g.advance(k)
		cutoffs = append(cutoffs, len(g.ordering))
	}
	return Ordering{Neurons: g.finish(), Cutoffs: cutoffs}
}

// GranularOrdering ranks all neurons in chunks of about granularity neurons
// (NeuroX get_neuron_ordering_granular; see the package documentation). It
// panics if granularity or stride < 1.
func (r *Ranker) GranularOrdering(granularity, stride int) Ordering {
	if granularity < 1 {
		panic(fmt.Sprintf("ranking: granularity %d < 1", granularity))
	}
	g := r.newGrowth(stride)
	cutoffs := []int{}
	s := 0
	for i := 0; i <= r.neurons; i += granularity {
		for s <= stride && g.sizes[s] < i {
			s++
		}
		if s > stride {
			break
		}
		if len(g.advance(s)) > 0 {
			cutoffs = append(cutoffs, len(g.ordering))
		}
	}
	return Ordering{Neurons: g.finish(), Cutoffs: cutoffs}
}

// FixedBottom returns the last k neurons of Ordering(DefaultStride), least
// important last (NeuroX get_fixed_number_of_bottom_neurons). It panics
// unless 0 ≤ k ≤ NumNeurons. Two edges differ from NeuroX's
// ordering[-k:]: k = 0 gives no neurons (Python's [-0:] gives all), and
// the neurons that no step of the ordering selects (see Ordering) are the
// bottom ones here, where NeuroX's ordering omits them and takes the tail
// of the selected ones.
func (r *Ranker) FixedBottom(k int) []int {
	if k < 0 || k > r.neurons {
		panic(fmt.Sprintf("ranking: %d bottom neurons of %d", k, r.neurons))
	}
	o := r.Ordering(DefaultStride)
	return slices.Clone(o.Neurons[r.neurons-k:])
}

// PercentCount is the number of neurons in percent % of numNeurons:
// round(numNeurons·percent/100), halves rounded up. It panics unless
// 0 ≤ percent ≤ 100.
func PercentCount(numNeurons int, percent float64) int {
	if !(percent >= 0 && percent <= 100) {
		panic(fmt.Sprintf("ranking: percent %v outside [0, 100]", percent))
	}
	return int(math.Round(float64(numNeurons) * percent / 100))
}

// TopPercent returns the first PercentCount(numNeurons, percent) neurons of
// ordering (most important first). It panics if ordering is shorter.
func TopPercent(ordering []int, numNeurons int, percent float64) []int {
	k := PercentCount(numNeurons, percent)
	if k > len(ordering) {
		panic(fmt.Sprintf("ranking: top %d neurons of an ordering of %d", k, len(ordering)))
	}
	return slices.Clone(ordering[:k])
}

// BottomPercent returns the last PercentCount(numNeurons, percent) neurons
// of ordering, in ordering order (least important last). It panics if
// ordering is shorter.
func BottomPercent(ordering []int, numNeurons int, percent float64) []int {
	k := PercentCount(numNeurons, percent)
	if k > len(ordering) {
		panic(fmt.Sprintf("ranking: bottom %d neurons of an ordering of %d", k, len(ordering)))
	}
	return slices.Clone(ordering[len(ordering)-k:])
}

// Pick names a part of a neuron ordering for the ablations: its top or
// bottom N%, or a random N% of the neurons.
type Pick string

// The picks of the paper's ablations (Table 4, and inside the model).
const (
	PickTop    Pick = "top"    // the first N% of the ordering
	PickBottom Pick = "bottom" // the last N% of the ordering
	PickRandom Pick = "random" // a seeded uniform sample of as many neurons
)

// Picks are all three, in table order.
var Picks = []Pick{PickTop, PickRandom, PickBottom}

// PickNeurons returns, ascending, the PercentCount(numNeurons, percent)
// neurons that p picks from ordering (most important first): its first
// (PickTop) or last (PickBottom) ones, or a uniform sample of all
// numNeurons neurons drawn from seed and percent (PickRandom; so all three
// pick equally many, whereas NeuroX's get_random_neurons — Random — keeps
// each neuron with probability N/100). It returns an error for an unknown
// pick, a percent outside [0, 100] or an ordering shorter than the count.
func PickNeurons(p Pick, ordering []int, numNeurons int, percent float64, seed uint64) ([]int, error) {
	if !(percent >= 0 && percent <= 100) {
		return nil, fmt.Errorf("percentage %v outside [0, 100]", percent)
	}
	k := PercentCount(numNeurons, percent)
	if p != PickRandom && k > len(ordering) {
		return nil, fmt.Errorf("%v%% of %d neurons is %d, but the ordering lists only %d", percent, numNeurons, k, len(ordering))
	}
	var picked []int
	switch p {
	case PickTop:
		picked = TopPercent(ordering, numNeurons, percent)
	case PickBottom:
		picked = BottomPercent(ordering, numNeurons, percent)
	case PickRandom:
		picked = rand.New(rand.NewPCG(seed, uint64(percent*1000))).Perm(numNeurons)[:k]
	default:
		return nil, fmt.Errorf("unknown pick %q (want top, bottom or random)", p)
	}
	slices.Sort(picked)
	return picked, nil
}
