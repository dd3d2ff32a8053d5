package ranking_test

import (
	"path/filepath"
	"testing"

	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/analysis/ranking"
)

// TestCrossCorrFilesValid: every crosscorr method's ranking file is one of
// grain's methods that rank all neurons, written and read back, and its
// file without one neuron is refused.
func TestCrossCorrFilesValid(t *testing.T) {
	dir := t.TempDir()
	for _, m := range crosscorr.Methods {
		mr := &crosscorr.ModelRanking{Model: "a", Neurons: 3, Ranking: []crosscorr.RankedNeuron{{Neuron: 2, Score: 0.9}, {Neuron: 0, Score: 0.5}, {Neuron: 1, Score: 0.1}}}
		f := mr.File(m)
		if !ranking.KnownMethod(f.Method) || !f.RanksAll() || !f.Ranked() {
			t.Errorf("%s: method %q is not known as a ranking of every neuron", m, f.Method)
		}
		path := filepath.Join(dir, string(m)+".json")
		if err := ranking.WriteFile(path, f); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if _, err := ranking.ReadFile(path); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		f.Ordering = f.Ordering[:2]
		if err := ranking.WriteFile(path, f); err == nil {
			t.Errorf("%s: an ordering of 2 of 3 neurons was written", m)
		}
	}
}
