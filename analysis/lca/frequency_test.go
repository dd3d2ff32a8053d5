package lca

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFitFrequencyExactPowerLaw: counts 3·t^0.5 are fitted exactly.
func TestFitFrequencyExactPowerLaw(t *testing.T) {
	var focus []Focus
	for i := range 6 {
		focus = append(focus, Focus{Label: fmt.Sprint("L", i), Count: 3 << i, TrainCount: 1 << (2 * i)})
	}
	f := FitFrequency(focus)
	if f == nil || math.Abs(f.Slope-0.5) > 1e-12 || math.Abs(f.Intercept-math.Log(3)) > 1e-12 || math.Abs(f.Spearman-1) > 1e-12 {
		t.Fatalf("fit %+v, want slope 0.5, intercept ln 3, Spearman 1", f)
	}
	for _, l := range f.Labels {
		if math.Abs(l.Ratio-1) > 1e-12 || math.Abs(l.Expected-float64(l.Count)) > 1e-9 {
			t.Errorf("%+v: want the count expected, ratio 1", l)
		}
	}
}

// TestFitFrequencyRandom compares the fit on random labels (with tied
// counts) with the textbook formulas written out: a value's mid-rank is the
// number of smaller values plus half the number of other equal ones.
func TestFitFrequencyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := range 20 {
		n := 3 + rng.IntN(60)
		focus := make([]Focus, n)
		for i := range focus {
			focus[i] = Focus{Label: fmt.Sprint(i), Count: 1 + rng.IntN(20), TrainCount: 1 + rng.IntN(3000)}
		}
		f := FitFrequency(focus)
		if f == nil || len(f.Labels) != n {
			t.Fatalf("trial %d: fit %+v of %d labels", trial, f, n)
		}
		midRank := func(get func(Focus) int, v int) float64 {
			var less, equal float64
			for _, g := range focus {
				switch x := get(g); {
				case x < v:
					less++
				case x == v:
					equal++
				}
			}
			return less + (equal-1)/2
		}
		count := func(g Focus) int { return g.Count }
		train := func(g Focus) int { return g.TrainCount }
		var rc, rt, lx, ly []float64
		for _, g := range focus {
			rc, rt = append(rc, midRank(count, g.Count)), append(rt, midRank(train, g.TrainCount))
			lx, ly = append(lx, math.Log(float64(g.TrainCount))), append(ly, math.Log(float64(g.Count)))
		}
		slope := covariance(lx, ly) / covariance(lx, lx)
		intercept := mean(ly) - slope*mean(lx)
		spearman := covariance(rc, rt) / math.Sqrt(covariance(rc, rc)*covariance(rt, rt))
		if math.Abs(f.Slope-slope) > 1e-12 || math.Abs(f.Intercept-intercept) > 1e-12 || math.Abs(f.Spearman-spearman) > 1e-12 {
			t.Fatalf("trial %d: fit slope %v intercept %v Spearman %v, want %v %v %v", trial, f.Slope, f.Intercept, f.Spearman, slope, intercept, spearman)
		}
		if !slices.IsSortedFunc(f.Labels, func(a, b RelativeFocus) int { return cmp.Compare(a.Ratio, b.Ratio) }) {
			t.Fatalf("trial %d: labels not by ascending ratio", trial)
		}
		for _, l := range f.Labels {
			e := math.Exp(intercept + slope*math.Log(float64(l.TrainCount)))
			if math.Abs(l.Expected-e) > 1e-9*e || math.Abs(l.Ratio-float64(l.Count)/e) > 1e-9 {
				t.Fatalf("trial %d: %+v, want expected %v", trial, l, e)
			}
		}
	}
}

func TestFitFrequencyDegenerate(t *testing.T) {
	three := []Focus{{Label: "a", Count: 4, TrainCount: 10}, {Label: "b", Count: 9, TrainCount: 50}, {Label: "c", Count: 2, TrainCount: 0}, {Label: "d", Count: 0, TrainCount: 7}}
	if f := FitFrequency(three); f != nil {
		t.Errorf("two usable labels (one unseen in training, one without weights): fit %+v, want none", f)
	}
	if f := FitFrequency(append(three, Focus{Label: "e", Count: 6, TrainCount: 20})); f == nil || len(f.Labels) != 3 {
		t.Errorf("three usable labels: fit %+v, want one over a, b, e", f)
	}
	same := []Focus{{Label: "a", Count: 4, TrainCount: 10}, {Label: "b", Count: 9, TrainCount: 10}, {Label: "c", Count: 2, TrainCount: 10}}
	if f := FitFrequency(same); f != nil {
		t.Errorf("labels seen equally often: fit %+v, want none", f)
	}
	flat := []Focus{{Label: "a", Count: 5, TrainCount: 10}, {Label: "b", Count: 5, TrainCount: 30}, {Label: "c", Count: 5, TrainCount: 90}}
	f := FitFrequency(flat)
	if f == nil || f.Spearman != 0 || math.Abs(f.Slope) > 1e-15 || math.Abs(f.Labels[0].Ratio-1) > 1e-12 {
		t.Errorf("equal focus counts: fit %+v, want Spearman 0, slope 0, ratios 1", f)
	}
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func covariance(x, y []float64) float64 {
	mx, my := mean(x), mean(y)
	var s float64
	for i := range x {
		s += (x[i] - mx) * (y[i] - my)
	}
	return s / float64(len(x))
}
