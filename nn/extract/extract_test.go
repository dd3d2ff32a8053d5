package extract

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/nn/internal/nntest"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/vocab"
)

func ewtDev(t *testing.T, n int) *corpus.Corpus {
	t.Helper()
	dir, err := corpus.SharedDataDir()
	if err != nil {
		t.Fatal(err)
	}
	c, err := corpus.ReadCoNLLU(filepath.Join(dir, "ud_en_ewt", "en_ewt-ud-dev.conllu.gz"))
	if err != nil {
		t.Fatal(err)
	}
	c.Sentences = c.Sentences[:n]
	return c
}

// TestAlignmentOnEWT extracts both models over 300 real EWT sentences and
// checks the store against the corpus: the same sentences and tokens (the
// corpus's own, so dataset.Join accepts the pair), every token a row,
// unknown words counted, and every sentence's rows equal (to float32 rounding)
// to those it gets when run alone (batching and padding change nothing).
func TestAlignmentOnEWT(t *testing.T) {
	c := ewtDev(t, 300)
	for _, kind := range []string{model.NLM, model.NMT} {
		t.Run(kind, func(t *testing.T) {
			m, _ := nntest.Setup(t, kind, 500, 8, 0)
			path := filepath.Join(t.TempDir(), "acts.gact")
			rep, err := Run(m, c, path, Options{Batch: 16, Window: 100, Model: "tiny " + kind})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Tokens != c.NumTokens() || rep.Sentences != len(c.Sentences) {
				t.Fatalf("report %+v for %d tokens in %d sentences", rep, c.NumTokens(), len(c.Sentences))
			}
			v := vocabOf(m)
			unknown := 0
			for _, s := range c.Sentences {
				for _, tok := range s.Tokens {
					if !v.Has(vocab.Normalize(tok)) {
						unknown++
					}
				}
			}
			if rep.Unknown != unknown || unknown == 0 || unknown == rep.Tokens {
				t.Fatalf("%d unknown tokens reported, %d counted, of %d", rep.Unknown, unknown, rep.Tokens)
			}
			r, err := activations.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			meta := r.Meta()
			if meta.Dim != m.Config.Hidden || r.NumNeurons() != m.Masks.StoredNeurons() {
				t.Fatalf("store has %d neurons of dim %d, model stores %d", r.NumNeurons(), meta.Dim, m.Masks.StoredNeurons())
			}
			labels, err := c.Labels(corpus.XPOS)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dataset.Join(r, c.Tokens(), labels, dataset.NewLabelSet(labels)); err != nil {
				t.Fatalf("Join: %v", err)
			}
			for _, i := range []int{0, 7, 123, 299} {
				s := c.Sentences[i]
				ids := make([]int32, len(s.Tokens))
				for j, tok := range s.Tokens {
					ids[j] = v.ID(vocab.Normalize(tok))
				}
				alone, err := Activations(m, [][]int32{ids}, 1)
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := r.SentenceRange(i)
				got := make([]float32, (hi-lo)*r.NumNeurons())
				if err := r.ReadRows(lo, hi-lo, got); err != nil {
					t.Fatal(err)
				}
				// BLAS may round differently for other matrix sizes.
				for j := range got {
					if d := math.Abs(float64(got[j] - alone[0][j])); d > 1e-5 {
						t.Fatalf("sentence %d value %d: stored %g, run alone %g", i, j, got[j], alone[0][j])
					}
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Don't": "don&apos;t", `"Hi"`: "&quot;hi&quot;", "A&B": "a&amp;b", "New~York": "new~york"} {
		if got := vocab.Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
