package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/grainlab/grain/nn/models"
)

// recorded is one entry of nn/models/scores.json: the score `grain eval`
// gave a shipped model when it was trained (see nn/models/README.md).
type recorded struct {
	Metric     string  `json:"metric"` // "bleu" (NMT) or "perplexity" (NLM)
	Beam       int     `json:"beam"`
	Split      string  `json:"split"`
	Value      float64 `json:"value"`
	Perplexity float64 `json:"perplexity"`
}

// TestShippedModelsReproduceScores runs `grain eval` on every shipped
// model and compares with its recorded score. BLEU may move by a few
// hundredths where a different BLAS build rounds a beam-search tie the
// other way; perplexity must agree to 1e-4 relative.
func TestShippedModelsReproduceScores(t *testing.T) {
	dir, err := models.Dir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "scores.json"))
	if err != nil {
		t.Fatal(err)
	}
	var scores map[string]recorded
	if err := json.Unmarshal(b, &scores); err != nil {
		t.Fatal(err)
	}
	for _, name := range models.Names {
		path, err := models.Path(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, ok := scores[name]
		if !ok {
			t.Errorf("%s has no recorded score in scores.json", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"eval", "--device", "cpu", "--quiet", "--json", "--model", path, "--split", want.Split}
			if want.Metric == "bleu" {
				args = append(args, "--beam", fmt.Sprint(want.Beam))
			}
			code, out, errs := run(args...)
			if code != 0 {
				t.Fatalf("grain eval: %d %s", code, errs)
			}
			var got struct {
				BLEU       float64 `json:"bleu"`
				Perplexity float64 `json:"perplexity"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			if want.Metric == "bleu" && math.Abs(got.BLEU-want.Value) > 0.05 {
				t.Errorf("BLEU %.4f, recorded %.4f", got.BLEU, want.Value)
			}
			if math.Abs(got.Perplexity-want.Perplexity) > 1e-4*want.Perplexity {
				t.Errorf("perplexity %.6f, recorded %.6f", got.Perplexity, want.Perplexity)
			}
		})
	}
}
