package ranking

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// MeanAccumulator streams labeled activation rows and forms the class mean
// of every neuron per label, summing in float64.
type MeanAccumulator struct {
	numLabels, numCols int
	sums               []float64 // numLabels × numCols
	counts             []int64
}

// NewMeanAccumulator returns an empty accumulator for numLabels labels and
// rows of numCols neurons. It panics if either is < 1.
func NewMeanAccumulator(numLabels, numCols int) *MeanAccumulator {
	if numLabels < 1 || numCols < 1 {
		panic(fmt.Sprintf("ranking: mean accumulator for %d labels × %d neurons", numLabels, numCols))
	}
	return &MeanAccumulator{
		numLabels: numLabels,
		numCols:   numCols,
		sums:      make([]float64, numLabels*numCols),
		counts:    make([]int64, numLabels),
	}
}

// Add accumulates len(labels) rows of numCols activations (row-major in
// rows); row i has label labels[i]. It returns an error, and adds nothing,
// if numCols or len(rows) do not match, a label is outside [0, numLabels) or
// an activation is NaN or infinite.
func (a *MeanAccumulator) Add(rows []float32, numCols int, labels []int32) error {
	if numCols != a.numCols {
		return fmt.Errorf("ranking: rows of %d neurons, accumulator has %d", numCols, a.numCols)
	}
	if len(rows) != len(labels)*numCols {
		return fmt.Errorf("ranking: %d activations for %d labeled rows of %d neurons", len(rows), len(labels), numCols)
	}
	for i, c := range labels {
		if c < 0 || int(c) >= a.numLabels {
			return fmt.Errorf("ranking: row %d has label %d outside [0, %d)", i, c, a.numLabels)
		}
	}
	for i, v := range rows {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("ranking: activation [%d][%d] is %v", i/numCols, i%numCols, v)
		}
	}
	for i, c := range labels {
		sum := a.sums[int(c)*numCols : (int(c)+1)*numCols]
		for j, v := range rows[i*numCols : (i+1)*numCols] {
			sum[j] += float64(v)
		}
		a.counts[c]++
	}
	return nil
}

// Means returns the class means, means[c][j] = (Σ rows of label c)[j] /
// counts[c], with means[c] nil for a label without rows, and the row count
// of every label.
func (a *MeanAccumulator) Means() (means [][]float64, counts []int64) {
	means = make([][]float64, a.numLabels)
	for c, n := range a.counts {
		if n == 0 {
			continue
		}
		means[c] = make([]float64, a.numCols)
		for j, s := range a.sums[c*a.numCols : (c+1)*a.numCols] {
			means[c][j] = s / float64(n)
		}
	}
	return means, slices.Clone(a.counts)
}

// ProbelessRanking is the probeless ranking of Antverg & Belinkov (2022).
type ProbelessRanking struct {
	// Overall lists all neurons by descending Scores, ties lower index first.
	Overall []int
	// Scores[j] = Σ_{a<b} |μ_a[j] − μ_b[j]| over pairs of labels with means.
	Scores []float64
	// PerLabel[c] lists all neurons by descending LabelScores[c], ties lower
	// index first; nil for a label without a mean.
	PerLabel [][]int
	// LabelScores[c][j] = Σ_{b≠c} |μ_c[j] − μ_b[j]|; nil for a label without
	// a mean.
	LabelScores [][]float64
}

// Probeless ranks neurons by how far apart the class means are. means[c] is
// the mean activation vector of label c, or nil for a label without
// examples (as MeanAccumulator.Means returns); sums run over labels in
// index order. It panics if the non-nil means differ in length or all are
// nil.
func Probeless(means [][]float64) ProbelessRanking {
	n := -1
	for c, m := range means {
		if m == nil {
			continue
		}
		if n >= 0 && len(m) != n {
			panic(fmt.Sprintf("ranking: mean %d has %d neurons, want %d", c, len(m), n))
		}
		n = len(m)
	}
	if n < 0 {
		panic("ranking: probeless ranking without any class mean")
	}
	pr := ProbelessRanking{
		Scores:      make([]float64, n),
		PerLabel:    make([][]int, len(means)),
		LabelScores: make([][]float64, len(means)),
	}
	for a, ma := range means {
		if ma == nil {
			continue
		}
		pr.LabelScores[a] = make([]float64, n)
		for b, mb := range means {
			if mb == nil || b == a {
				continue
			}
			for j := range pr.Scores {
				d := math.Abs(ma[j] - mb[j])
				pr.LabelScores[a][j] += d
				if a < b {
					pr.Scores[j] += d
				}
			}
		}
		pr.PerLabel[a] = byDescendingScore(pr.LabelScores[a])
	}
	pr.Overall = byDescendingScore(pr.Scores)
	return pr
}

// byDescendingScore returns the indices of score sorted by descending value,
// ties by ascending index.
func byDescendingScore(score []float64) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(score[b], score[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return idx
}
