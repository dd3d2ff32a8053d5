package ranking

import (
	"fmt"
	"slices"
)

// Overlap compares the top-k neurons of two rankings of the same neurons:
// a probe's for one property against another property's (neurons shared
// across tasks), or against a cross-model correlation ranking (the paper's
// position neurons found by both LCA and CCA).
type Overlap struct {
	// K is the number of top neurons compared (k, or the length of the
	// shorter ordering if that is less).
	K int `json:"k"`
	// Count is the number of neurons in both top-K sets.
	Count int `json:"count"`
	// Chance is the Count expected of two random K-subsets of the n
	// neurons: K²/n.
	Chance float64 `json:"chance"`
	// Jaccard is Count / |top-K ∪ top-K|.
	Jaccard float64 `json:"jaccard"`
	// Shared lists the neurons in both sets, ascending.
	Shared []int `json:"shared"`
}

// TopOverlap compares the top k neurons of orderings a and b (neuron
// indices in [0, n), best first). It returns an error if k < 1 or an
// ordering holds a neuron twice or outside [0, n).
func TopOverlap(a, b []int, k, n int) (Overlap, error) {
	if k < 1 {
		return Overlap{}, fmt.Errorf("ranking: top-k overlap needs k ≥ 1, not %d", k)
	}
	for _, o := range []struct {
		name string
		ord  []int
	}{{"first", a}, {"second", b}} {
		seen := make(map[int]bool, len(o.ord))
		for _, x := range o.ord {
			if x < 0 || x >= n || seen[x] {
				return Overlap{}, fmt.Errorf("ranking: the %s ordering holds neuron %d twice or outside [0, %d)", o.name, x, n)
			}
			seen[x] = true
		}
	}
	k = min(k, len(a), len(b))
	in := make(map[int]bool, k)
	for _, x := range a[:k] {
		in[x] = true
	}
	ov := Overlap{K: k, Shared: []int{}}
	for _, x := range b[:k] {
		if in[x] {
			ov.Shared = append(ov.Shared, x)
		}
	}
	slices.Sort(ov.Shared)
	ov.Count = len(ov.Shared)
	if k > 0 {
		ov.Chance = float64(k) * float64(k) / float64(n)
	}
	if union := 2*k - ov.Count; union > 0 {
		ov.Jaccard = float64(ov.Count) / float64(union)
	}
	return ov, nil
}
