package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/analysis/lca"
	"github.com/grainlab/grain/analysis/ranking"
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

// TestPaperAnalysesOnShippedModels reproduces, on the shipped NMT models
// over EWT, the paper's observations and one of grain's. It extracts each model's
// encoder over EWT dev, ranks the first model's neurons by MaxCorr, and
// trains word-position and POS probes on the first model (EWT dev → test):
//   - the neurons most correlated across independently trained models
//     include the position neurons that a probe finds (top-50 overlap;
//     chance for two top-50 lists among 768 neurons ≈ 3.3);
//   - the position probe's top neurons respond to words that open sentences
//     (grain visualize's top words; earlyTopWords);
//   - related POS labels share neurons, and how many neurons a label needs
//     follows how often it was seen in training (posTagFocus).
func TestPaperAnalysesOnShippedModels(t *testing.T) {
	dir := t.TempDir()
	ewt, err := corpus.SharedDataDir()
	if err != nil {
		t.Fatal(err)
	}
	ewt = filepath.Join(ewt, "ud_en_ewt")
	extract := func(model, split string) string {
		path, err := models.Path(model)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, model+"."+split+".gact")
		if code, _, errs := run("extract", "--device", "cpu", "--quiet", "--model", path,
			"--corpus", filepath.Join(ewt, "en_ewt-ud-"+split+".conllu.gz"), "--out", out); code != 0 {
			t.Fatalf("extract %s %s: %s", model, split, errs)
		}
		return out
	}
	compared := []string{"nmt-en-de-s1", "nmt-en-fr"}
	var files []string
	for _, m := range compared {
		files = append(files, extract(m, "dev"))
	}
	testActs := extract(compared[0], "test")

	overlap := func(property string) (count int, topScore float64) {
		out := filepath.Join(dir, "lca-"+property)
		if code, _, errs := run("lca", "--device", "cpu", "--quiet", "--property", property,
			"--acts", files[0], "--corpus", filepath.Join(ewt, "en_ewt-ud-dev.conllu.gz"),
			"--test-acts", testActs, "--test-corpus", filepath.Join(ewt, "en_ewt-ud-test.conllu.gz"),
			"--ablate=false", "--control=false", "--out", out); code != 0 {
			t.Fatalf("lca %s: %s", property, errs)
		}
		args := append([]string{"crosscorr", "--device", "cpu", "--quiet", "--json", "--method", "maxcorr",
			"--lca", filepath.Join(out, "ranking.json"), "--k", "50"}, files...)
		code, js, errs := run(args...)
		if code != 0 {
			t.Fatalf("crosscorr: %s", errs)
		}
		var r struct {
			Ranking struct {
				Models []struct {
					Ranking []struct {
						Score float64 `json:"score"`
					} `json:"ranking"`
				} `json:"models"`
			} `json:"ranking"`
			Overlap struct {
				Count int `json:"count"`
			} `json:"lca_overlap"`
		}
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Ranking.Models) != len(compared) {
			t.Fatalf("%d models ranked, want %d", len(r.Ranking.Models), len(compared))
		}
		return r.Overlap.Count, r.Ranking.Models[0].Ranking[0].Score
	}
	position, top := overlap("position-bucket")
	pos, _ := overlap("xpos")
	t.Logf("top MaxCorr %.4f; top-50 overlap with the position probe %d, with the POS probe %d", top, position, pos)
	if top < 0.8 {
		t.Errorf("best cross-model correlation %.4f, want a shared neuron (≥ 0.8)", top)
	}
	if position < 8 || position <= pos {
		t.Errorf("MaxCorr top 50 shares %d neurons with the position probe's top 50 (chance ≈ 3.3) and %d with the POS probe's", position, pos)
	}
	earlyTopWords(t, files[0], filepath.Join(dir, "lca-position-bucket", "ranking.json"))
	posTagFocus(t, filepath.Join(dir, "lca-xpos", "report.json"))
}

// earlyTopWords reads, with grain visualize, the top words (seen at least 5
// times) of the position probe's first two neurons: words that stand early
// in their sentences, on average before 0.6 of the mean relative position of
// words in general (measured: 0.22 and 0.08 against 0.47).
func earlyTopWords(t *testing.T, acts, positionRanking string) {
	code, js, errs := run("visualize", "--quiet", "--json", "--acts", acts, "--ranking", positionRanking, "--top", "2", "--min-count", "5", "--words", "10")
	if code != 0 {
		t.Fatalf("visualize: %s", errs)
	}
	var v struct {
		Neurons []struct {
			Neuron int `json:"neuron"`
			Words  []struct {
				Word string `json:"word"`
			} `json:"words"`
		} `json:"neurons"`
	}
	if err := json.Unmarshal([]byte(js), &v); err != nil || len(v.Neurons) != 2 {
		t.Fatalf("visualize --json: %v in %.300s", err, js)
	}
	r, err := activations.Open(acts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// where: each word's mean relative position i / (n − 1) in its sentences.
	sum, count := map[string]float64{}, map[string]int{}
	for s := range r.NumSentences() {
		toks := r.Tokens(s)
		for i, w := range toks {
			sum[w] += float64(i) / float64(max(len(toks)-1, 1))
			count[w]++
		}
	}
	var all float64
	var frequent int
	for w, n := range count {
		if n >= 5 {
			all += sum[w] / float64(n)
			frequent++
		}
	}
	all /= float64(frequent)
	for _, nv := range v.Neurons {
		if len(nv.Words) != 10 {
			t.Fatalf("neuron %d: %d top words, want 10", nv.Neuron, len(nv.Words))
		}
		var top float64
		var words []string
		for _, w := range nv.Words {
			top += sum[w.Word] / float64(count[w.Word]) / 10
			words = append(words, w.Word)
		}
		t.Logf("position neuron %d: top words %v stand at %.2f of their sentences on average (all words seen ≥ 5 times: %.2f)", nv.Neuron, words, top, all)
		if top > 0.6*all {
			t.Errorf("position neuron %d: its top words %v stand at %.2f of their sentences on average, words in general at %.2f", nv.Neuron, words, top, all)
		}
	}
}

// posTagFocus reads the POS probe's LCA report: pairs of related Penn tags
// (opening and closing quotes and brackets, comparatives and superlatives of
// adjectives and adverbs, plural and singular common and proper nouns, past
// tense and participle, possessive pronouns) must share focus neurons at, on
// average, 1.5 times the rate of all pairs of tags (measured: 2.6× chance
// against 1.3×), and the tags' focus counts must follow their training
// counts (Spearman ≥ 0.6; measured 0.88).
func posTagFocus(t *testing.T, reportPath string) {
	b, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep lca.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	ratio := map[[2]string]float64{}
	for _, p := range rep.SharedLabels {
		ratio[[2]string{p.A, p.B}] = float64(p.Shared) / p.Chance
		ratio[[2]string{p.B, p.A}] = float64(p.Shared) / p.Chance
	}
	n := len(rep.Focus)
	var all float64
	for _, r := range ratio {
		all += r / 2
	}
	all /= float64(n * (n - 1) / 2) // pairs sharing nothing count as 0
	var related float64
	pairs := [][2]string{{"``", "''"}, {"-LRB-", "-RRB-"}, {"JJR", "RBR"}, {"JJS", "RBS"}, {"NNS", "NNPS"}, {"NN", "NNP"}, {"VBD", "VBN"}, {"PRP$", "WP$"}}
	for _, p := range pairs {
		related += ratio[p] / float64(len(pairs))
	}
	t.Logf("related POS tags share focus neurons at %.2f× chance on average, all pairs of tags at %.2f×", related, all)
	if related < 1.5*all {
		t.Errorf("related POS tags share focus neurons at %.2f× chance, all pairs of tags at %.2f×", related, all)
	}
	if f := rep.FocusFrequency; f == nil || f.Spearman < 0.6 || f.Slope <= 0 {
		t.Errorf("focus against tag frequency %+v: want Spearman ≥ 0.6, a rising fit", f)
	} else {
		t.Logf("focus against tag frequency: Spearman %.2f, slope %.3f", f.Spearman, f.Slope)
	}
}

// TestExtractTokensWithoutLabels: extraction needs no labels, so a NeuroX
// tokens file is enough (the shipped language model over two sentences).
func TestExtractTokensWithoutLabels(t *testing.T) {
	dir, err := models.Dir()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	toks, acts := filepath.Join(tmp, "c.tok"), filepath.Join(tmp, "c.gact")
	os.WriteFile(toks, []byte("a man rides a horse .\nzyzzyva\n"), 0o644)
	if code, out, errs := run("extract", "--device", "cpu", "--quiet", "--model", filepath.Join(dir, "nlm-en.safetensors"), "--corpus", toks, "--out", acts); code != 0 {
		t.Fatalf("extract over a tokens file: %d\n%s\n%s", code, out, errs)
	}
	r, err := activations.Open(acts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumTokens() != 7 || r.NumSentences() != 2 || r.Tokens(1)[0] != "zyzzyva" || r.Meta().Masked != nil {
		t.Fatalf("extracted %d tokens in %d sentences, masked %v", r.NumTokens(), r.NumSentences(), r.Meta().Masked)
	}
	// With the top 1% of a ranking clamped, the file records those neurons
	// (ascending) and holds zeros there.
	n := r.NumNeurons()
	ord := make([]int, n)
	for i := range ord {
		ord[i] = (i*37 + 11) % n // a permutation: 37 is prime to the layer widths
	}
	rk, masked := filepath.Join(tmp, "r.json"), filepath.Join(tmp, "m.gact")
	if err := ranking.WriteFile(rk, &ranking.File{Version: ranking.FormatVersion, Method: ranking.MethodOrdering, NumNeurons: n, Ordering: ord}); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run("extract", "--device", "cpu", "--quiet", "--model", filepath.Join(dir, "nlm-en.safetensors"), "--corpus", toks, "--out", masked,
		"--mask-ranking", rk, "--mask-top", "1"); code != 0 {
		t.Fatalf("masked extract: %d\n%s\n%s", code, out, errs)
	}
	rm, err := activations.Open(masked)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	want := slices.Sorted(slices.Values(ord[:ranking.PercentCount(n, 1)]))
	if got := rm.Meta().Masked; len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("masked extract records %v, want %v", got, want)
	}
	rows := make([]float32, rm.NumTokens()*n)
	if err := rm.ReadRows(0, rm.NumTokens(), rows); err != nil {
		t.Fatal(err)
	}
	for tok := range rm.NumTokens() {
		for _, g := range want {
			if v := rows[tok*n+g]; v != 0 {
				t.Fatalf("token %d, masked neuron %d: %v", tok, g, v)
			}
		}
	}
}
