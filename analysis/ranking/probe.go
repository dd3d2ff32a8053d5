package ranking

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Ranker ranks the neurons of one probe. It keeps A = |W|, each row's
// ascending order and the running sums in both directions, so that every
// selection reuses one sort per row.
type Ranker struct {
	labels, neurons int
	abs             []float32 // A, labels × neurons
	asc             []int32   // per row: neuron indices by ascending A, ties by index
	cumAsc          []float32 // per row: running sum of A in asc order
	cumDesc         []float32 // per row: running sum of A in reversed asc order
	totals          []float32 // per row: NumPySum(A[l])
	mass            []float64 // per neuron: Σ_l A[l][j] in float64
}

// NewRanker builds a Ranker for the weight matrix w of a probe with
// numLabels rows and numNeurons columns, row-major. w is not retained. It
// returns an error if a weight is NaN or infinite, and panics if the sizes do
// not match or are not positive, or numNeurons ≥ 2^31.
func NewRanker(w []float32, numLabels, numNeurons int) (*Ranker, error) {
	if numLabels < 1 || numNeurons < 1 || numNeurons > math.MaxInt32 || len(w) != numLabels*numNeurons {
		panic(fmt.Sprintf("ranking: %d weights for %d labels × %d neurons", len(w), numLabels, numNeurons))
	}
	r := &Ranker{
		labels:  numLabels,
		neurons: numNeurons,
		abs:     make([]float32, len(w)),
		asc:     make([]int32, len(w)),
		cumAsc:  make([]float32, len(w)),
		cumDesc: make([]float32, len(w)),
		totals:  make([]float32, numLabels),
		mass:    make([]float64, numNeurons),
	}
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("ranking: weight [%d][%d] is %v", i/numNeurons, i%numNeurons, v)
		}
		r.abs[i] = math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
	}
	keys := make([]uint64, numNeurons)
	for l := range numLabels {
		row := r.row(r.abs, l)
		// Non-negative float32 values order like their bit patterns, so one
		// uint64 key sorts by value and then by index: a stable sort.
		for j, v := range row {
			keys[j] = uint64(math.Float32bits(v))<<32 | uint64(j)
			r.mass[j] += float64(v)
		}
		slices.Sort(keys)
		asc, cumAsc, cumDesc := r.row32(r.asc, l), r.row(r.cumAsc, l), r.row(r.cumDesc, l)
		var up, down float32
		for i, k := range keys {
			asc[i] = int32(uint32(k))
			up += row[asc[i]]
			cumAsc[i] = up
		}
		for i := range asc {
			down += row[asc[numNeurons-1-i]]
			cumDesc[i] = down
		}
		r.totals[l] = NumPySum(row)
	}
	return r, nil
}

func (r *Ranker) row(x []float32, l int) []float32 { return x[l*r.neurons : (l+1)*r.neurons] }
func (r *Ranker) row32(x []int32, l int) []int32   { return x[l*r.neurons : (l+1)*r.neurons] }

// Total is label l's weight mass np.sum(|W[l]|) in float32, as NumPySum.
func (r *Ranker) Total(l int) float32 { return r.totals[l] }

// numpyBlock is NumPy's default buffer size (np.getbufsize()): a reduction
// hands its inner loop at most this many elements at a time.
const numpyBlock = 8192

// NumPySum returns np.sum(x) for a contiguous float32 array x, bit for bit
// as NumPy 1.x computes it: the sum starts at 0 and adds, in float32, the
// pairwise sum of each consecutive block of 8192 elements (NumPy's buffer
// size). The pairwise sum of n elements is a plain loop for n < 8; for
// n ≤ 128 eight accumulators r[i%8] over the first n − n%8 elements,
// combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the remaining
// elements added in turn; for larger n the sum of the halves split at
// n2 = n/2 rounded down to a multiple of 8.
func NumPySum(x []float32) float32 {
	var s float32
	for len(x) > numpyBlock {
		s += pairwiseSum(x[:numpyBlock])
		x = x[numpyBlock:]
	}
	return s + pairwiseSum(x)
}

func pairwiseSum(a []float32) float32 {
	n := len(a)
	switch {
	case n < 8:
		var s float32
		for _, v := range a {
			s += v
		}
		return s
	case n <= 128:
		var r [8]float32
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			b := a[i : i+8 : i+8]
			r[0] += b[0]
			r[1] += b[1]
			r[2] += b[2]
			r[3] += b[3]
			r[4] += b[4]
			r[5] += b[5]
			r[6] += b[6]
			r[7] += b[7]
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += a[i]
		}
		return s
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
}

// Selection is the result of a per-label selection of neurons.
type Selection struct {
	// PerLabel[l] lists label l's selected neurons in selection order:
	// descending weight for TopNeurons, ascending for BottomNeurons,
	// ascending index for HardThreshold.
	PerLabel [][]int
	// Union is the set of neurons selected for any label, ascending.
	Union []int
}

// cut is the number of leading entries of the running sums cum that
// TopNeurons or BottomNeurons selects at percentage p for a label of the
// given total: one past the first i with cum[i] ≥ float32(float64(total)·p),
// or all entries if there is none. cum never decreases, so binary search
// finds the same i as a linear scan.
func cut(cum []float32, total float32, p float64) int {
	thr := float32(float64(total) * p)
	i := sort.Search(len(cum), func(i int) bool { return cum[i] >= thr })
	if i == len(cum) {
		return i
	}
	return i + 1
}

// TopNeurons selects per label the fewest neurons, by descending |w|, whose
// weight mass reaches fraction p (0 ≤ p ≤ 1) of the label's total; see the
// package documentation for the exact arithmetic.
func (r *Ranker) TopNeurons(p float64) Selection {
	return r.selectEach(func(l int) []int {
		k := cut(r.row(r.cumDesc, l), r.totals[l], p)
		asc := r.row32(r.asc, l)
		out := make([]int, k)
		for i := range out {
			out[i] = int(asc[r.neurons-1-i])
		}
		return out
	})
}

// BottomNeurons selects per label the fewest neurons, by ascending |w|,
// whose weight mass reaches fraction p of the label's total.
func (r *Ranker) BottomNeurons(p float64) Selection {
	return r.selectEach(func(l int) []int {
		k := cut(r.row(r.cumAsc, l), r.totals[l], p)
		out := make([]int, k)
		for i, j := range r.row32(r.asc, l)[:k] {
			out[i] = int(j)
		}
		return out
	})
}

// HardThreshold selects per label the neurons whose |w| exceeds the label's
// largest |w| divided by fraction: a[j] > float32(float64(max(a))/fraction).
func (r *Ranker) HardThreshold(fraction float64) Selection {
	return r.selectEach(func(l int) []int {
		row := r.row(r.abs, l)
		thr := float32(float64(slices.Max(row)) / fraction)
		out := []int{}
		for j, v := range row {
			if v > thr {
				out = append(out, j)
			}
		}
		return out
	})
}

// selectEach runs pick for every label and forms the union.
func (r *Ranker) selectEach(pick func(l int) []int) Selection {
	s := Selection{PerLabel: make([][]int, r.labels)}
	in := make([]bool, r.neurons)
	for l := range s.PerLabel {
		s.PerLabel[l] = pick(l)
		for _, j := range s.PerLabel[l] {
			in[j] = true
		}
	}
	s.Union = []int{}
	for j, ok := range in {
		if ok {
			s.Union = append(s.Union, j)
		}
	}
	return s
}

// Random selects each of numNeurons neurons independently with probability
// q: neuron j is selected when the j-th draw u ∈ [0, 1) of a PCG generator
// seeded with (seed, 0) satisfies u ≤ q (NeuroX: np.random.random ≤ q). The
// result is ascending and depends only on the arguments.
func Random(numNeurons int, q float64, seed uint64) []int {
	g := rand.New(rand.NewPCG(seed, 0))
	out := []int{}
	for j := range numNeurons {
		if g.Float64() <= q {
			out = append(out, j)
		}
	}
	return out
}
