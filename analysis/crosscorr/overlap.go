package crosscorr

import (
	"fmt"
	"slices"
)

// Overlap compares the top-k neurons of two rankings of the same model.
type Overlap struct {
	// K is the number of top neurons compared (k, or the length of the
	// shorter ordering if that is less).
	K int `json:"k"`
	// Count is the number of neurons in both top-K sets.
	Count int `json:"count"`
	// Jaccard is Count / |top-K ∪ top-K|.
	Jaccard float64 `json:"jaccard"`
	// Shared lists the neurons in both sets, ascending.
	Shared []int `json:"shared"`
}

// TopOverlap compares the top k neurons of a cross-model correlation ranking
// (e.g. ModelRanking.Order) with those of a probe ranking (an ordering of
// neuron indices, best first), as in the paper's comparison of LCA and CCA.
// It returns an error if k < 1 or an ordering holds a negative or repeated
// neuron.
func TopOverlap(correlation, probe []int, k int) (Overlap, error) {
	if k < 1 {
		return Overlap{}, fmt.Errorf("crosscorr: top-k overlap needs k ≥ 1, not %d", k)
	}
	for _, o := range []struct {
		name string
		ord  []int
	}{{"correlation", correlation}, {"probe", probe}} {
		seen := make(map[int]bool, len(o.ord))
		for _, n := range o.ord {
			if n < 0 || seen[n] {
				return Overlap{}, fmt.Errorf("crosscorr: %s ranking holds neuron %d twice or negative", o.name, n)
			}
			seen[n] = true
		}
	}
	k = min(k, len(correlation), len(probe))
	in := make(map[int]bool, k)
	for _, n := range correlation[:k] {
		in[n] = true
	}
	ov := Overlap{K: k, Shared: []int{}}
	for _, n := range probe[:k] {
		if in[n] {
			ov.Shared = append(ov.Shared, n)
		}
	}
	slices.Sort(ov.Shared)
	ov.Count = len(ov.Shared)
	if union := 2*k - ov.Count; union > 0 {
		ov.Jaccard = float64(ov.Count) / float64(union)
	}
	return ov, nil
}
