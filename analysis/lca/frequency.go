package lca

import (
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// FrequencyFit says how far the labels' focus follows how often each label
// was seen in training. With an elastic-net probe a rarely seen label gets
// few, concentrated weights, so "focused" labels are, first of all, rare
// ones: on grain's shipped models the Spearman correlation between a
// label's focus count and its training count was 0.85–0.89 for the NMT
// encoders' Penn-tag probes (EWT) and 0.95–0.96 for their semantic-tag
// probes (PMB); 0.61 and 0.91 for the language model's. The fit separates
// the two: a label's Ratio is its focus count over the count the fit
// expects of a label seen as often, so a ratio below 1 is a label more
// focused than its frequency explains.
type FrequencyFit struct {
	// Spearman is the rank correlation (ties given their mean rank)
	// between the labels' focus counts and training counts.
	Spearman float64 `json:"spearman"`
	// Intercept and Slope are the least-squares fit
	// ln(count) = Intercept + Slope·ln(train count) over the labels.
	Intercept float64 `json:"intercept"`
	Slope     float64 `json:"slope"`
	// Labels lists each label against the fit, the smallest Ratio (the
	// most focused for its frequency) first.
	Labels []RelativeFocus `json:"labels"`
}

// RelativeFocus is one label's focus against the frequency fit.
type RelativeFocus struct {
	Label      string `json:"label"`
	Count      int    `json:"count"`
	TrainCount int    `json:"train_count"`
	// Expected is exp(Intercept + Slope·ln(TrainCount)).
	Expected float64 `json:"expected"`
	// Ratio is Count / Expected.
	Ratio float64 `json:"ratio"`
}

// FitFrequency fits the focus counts of the labels seen in training
// (TrainCount ≥ 1) that have weights (Count ≥ 1) against their training
// counts. It returns nil where no fit exists: fewer than three such labels,
// or all seen equally often.
func FitFrequency(focus []Focus) *FrequencyFit {
	focus = slices.DeleteFunc(slices.Clone(focus), func(f Focus) bool { return f.TrainCount < 1 || f.Count < 1 })
	n := len(focus)
	logTrain, logCount := make([]float64, n), make([]float64, n)
	train, count := make([]float64, n), make([]float64, n)
	for i, f := range focus {
		train[i], count[i] = float64(f.TrainCount), float64(f.Count)
		logTrain[i], logCount[i] = math.Log(train[i]), math.Log(count[i])
	}
	if n < 3 || slices.Min(train) == slices.Max(train) {
		return nil
	}
	fit := &FrequencyFit{} // Spearman 0 when all counts are equal: no order to correlate
	if slices.Min(count) != slices.Max(count) {
		fit.Spearman = stat.Correlation(midRanks(count), midRanks(train), nil)
	}
	fit.Intercept, fit.Slope = stat.LinearRegression(logTrain, logCount, nil, false)
	for i, f := range focus {
		e := math.Exp(fit.Intercept + fit.Slope*logTrain[i])
		fit.Labels = append(fit.Labels, RelativeFocus{Label: f.Label, Count: f.Count, TrainCount: f.TrainCount, Expected: e, Ratio: count[i] / e})
	}
	sort.SliceStable(fit.Labels, func(i, j int) bool { return fit.Labels[i].Ratio < fit.Labels[j].Ratio })
	return fit
}

// midRanks returns the rank (0-based) of each value of x in ascending
// order, tied values sharing the mean of their ranks.
func midRanks(x []float64) []float64 {
	order := make([]int, len(x))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return x[order[a]] < x[order[b]] })
	r := make([]float64, len(x))
	for lo := 0; lo < len(order); {
		hi := lo + 1
		for hi < len(order) && x[order[hi]] == x[order[lo]] {
			hi++
		}
		for _, i := range order[lo:hi] {
			r[i] = float64(lo+hi-1) / 2
		}
		lo = hi
	}
	return r
}
