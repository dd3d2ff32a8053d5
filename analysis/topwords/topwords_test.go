package topwords

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestHandComputed checks the formula on a case worked by hand: mean 1,
// population sd √2, z = 0, √2, √2, 0; per type a: √2/2, b: √2, c: 0;
// scores b 1, a 0.5, c 0 (dropped by the 0.1 threshold).
func TestHandComputed(t *testing.T) {
	res, err := Of([]string{"a", "b", "a", "c"}, []float32{1, -1, 3, 1}, Options{MinScore: DefaultMinScore})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tokens != 4 || res.Mean != 1 || math.Abs(res.SD-math.Sqrt2) > 1e-15 || res.Min != -1 || res.Max != 3 || res.Types != 3 {
		t.Fatalf("statistics %+v", res)
	}
	want := []Word{{"b", 1, -1, 1}, {"a", 0.5, 2, 2}}
	if fmt.Sprint(res.Words) != fmt.Sprint(want) {
		t.Fatalf("words %v, want %v", res.Words, want)
	}
}

// TestTiesKeepFirstOccurrence: equal scores are listed in the order the
// types first occur, as NeuroX's stable sort leaves them.
func TestTiesKeepFirstOccurrence(t *testing.T) {
	for _, order := range [][]string{{"x", "y"}, {"y", "x"}} {
		res, err := Of(order, []float32{1, -1}, Options{MinScore: DefaultMinScore})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Words) != 2 || res.Words[0].Word != order[0] || res.Words[1].Word != order[1] ||
			res.Words[0].Score != 1 || res.Words[1].Score != 1 {
			t.Fatalf("tokens %v: words %v", order, res.Words)
		}
	}
}

// randomCorpus draws n tokens of 40 types with N(0, 1) activations, the
// type "hot" firing at +4 and "cold" at −3 (plus noise), both frequent.
func randomCorpus(n int, seed uint64) ([]string, []float32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	tokens := make([]string, n)
	values := make([]float32, n)
	for i := range tokens {
		switch k := rng.IntN(44); {
		case k < 2:
			tokens[i], values[i] = "hot", float32(4+0.3*rng.NormFloat64())
		case k < 4:
			tokens[i], values[i] = "cold", float32(-3+0.3*rng.NormFloat64())
		default:
			tokens[i], values[i] = fmt.Sprintf("w%d", k), float32(rng.NormFloat64())
		}
	}
	return tokens, values
}

// TestPlantedWordsLead: on random activations the planted types come first
// (the one furthest from the mean scores 1), each listed type's mean and count
// agree with a direct recount, scores fall, and the options cut the list.
func TestPlantedWordsLead(t *testing.T) {
	tokens, values := randomCorpus(20000, 7)
	res, err := Of(tokens, values, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Types != 42 || len(res.Words) != 42 {
		t.Fatalf("%d types, %d listed; want 42 (MinScore 0 keeps all but a zero score)", res.Types, len(res.Words))
	}
	if res.Words[0].Word != "hot" || res.Words[0].Score != 1 || res.Words[1].Word != "cold" {
		t.Fatalf("first words %v", res.Words[:3])
	}
	if res.Words[0].Mean < 3.5 || res.Words[1].Mean > -2.5 {
		t.Fatalf("planted means %v", res.Words[:2])
	}
	for i, w := range res.Words {
		var sum float64
		var count int
		for j, tok := range tokens {
			if tok == w.Word {
				sum += float64(values[j])
				count++
			}
		}
		if count != w.Count || math.Abs(sum/float64(count)-w.Mean) > 1e-9 {
			t.Fatalf("%q: count %d mean %g, recount %d %g", w.Word, w.Count, w.Mean, count, sum/float64(count))
		}
		if i > 0 && w.Score > res.Words[i-1].Score {
			t.Fatalf("scores rise at %d: %v", i, res.Words[i-1:i+1])
		}
	}
	limited, err := Of(tokens, values, Options{Limit: 5})
	if err != nil || len(limited.Words) != 5 || fmt.Sprint(limited.Words) != fmt.Sprint(res.Words[:5]) {
		t.Fatalf("Limit 5: %v, %v", limited, err)
	}
	thr, err := Of(tokens, values, Options{MinScore: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range thr.Words {
		if w.Score <= 0.5 {
			t.Fatalf("MinScore 0.5 kept %v", w)
		}
	}
	if len(thr.Words) < 2 || len(thr.Words) >= len(res.Words) {
		t.Fatalf("MinScore 0.5 kept %d of %d", len(thr.Words), len(res.Words))
	}
}

// TestMinCountDropsRareTypes: a word seen once with an extreme activation
// leads NeuroX's list; MinCount 2 drops it before normalising, so the
// planted frequent word scores 1 again.
func TestMinCountDropsRareTypes(t *testing.T) {
	tokens, values := randomCorpus(5000, 3)
	tokens, values = append(tokens, "once"), append(values, 40)
	all, err := Of(tokens, values, Options{MinScore: DefaultMinScore})
	if err != nil {
		t.Fatal(err)
	}
	if all.Words[0].Word != "once" {
		t.Fatalf("without MinCount the rare extreme word should lead: %v", all.Words[:2])
	}
	frequent, err := Of(tokens, values, Options{MinScore: DefaultMinScore, MinCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if frequent.Types != 42 || frequent.Words[0].Word != "hot" || frequent.Words[0].Score != 1 {
		t.Fatalf("MinCount 2: %d types, first %v", frequent.Types, frequent.Words[:2])
	}
}

// TestOrderInvariance: shuffling the (token, activation) pairs changes no
// score beyond summation rounding, only the order of exact ties.
func TestOrderInvariance(t *testing.T) {
	tokens, values := randomCorpus(3000, 11)
	a, err := Of(tokens, values, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	rng.Shuffle(len(tokens), func(i, j int) {
		tokens[i], tokens[j] = tokens[j], tokens[i]
		values[i], values[j] = values[j], values[i]
	})
	b, err := Of(tokens, values, Options{})
	if err != nil {
		t.Fatal(err)
	}
	scores := map[string]float64{}
	for _, w := range a.Words {
		scores[w.Word] = w.Score
	}
	for _, w := range b.Words {
		if math.Abs(scores[w.Word]-w.Score) > 1e-12 {
			t.Fatalf("%q: %g before shuffling, %g after", w.Word, scores[w.Word], w.Score)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name   string
		tokens []string
		values []float32
		opt    Options
		want   string
	}{
		{"mismatch", []string{"a", "b"}, []float32{1}, Options{}, "2 tokens but 1 activations"},
		{"empty", nil, nil, Options{}, "no tokens"},
		{"NaN", []string{"a", "b"}, []float32{1, float32(math.NaN())}, Options{}, `activation 1 (token "b") is NaN`},
		{"Inf", []string{"a", "b"}, []float32{float32(math.Inf(-1)), 1}, Options{}, `activation 0 (token "a") is -Inf`},
		{"constant", []string{"a", "b"}, []float32{2, 2}, Options{}, "constant"},
		{"negative limit", []string{"a", "b"}, []float32{1, 2}, Options{Limit: -1}, "want Limit ≥ 0"},
		{"score 1", []string{"a", "b"}, []float32{1, 2}, Options{MinScore: 1}, "MinScore in [0, 1)"},
		{"NaN score", []string{"a", "b"}, []float32{1, 2}, Options{MinScore: math.NaN()}, "MinScore in [0, 1)"},
	} {
		res, err := Of(c.tokens, c.values, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if c.name == "constant" && (!errors.Is(err, ErrConstant) || res == nil || res.SD != 0 || res.Min != 2 || res.Types != 2 || res.Words == nil || len(res.Words) != 0) {
			t.Errorf("constant: %v (ErrConstant wanted) with %+v", err, res)
		}
	}
}

// goldenFile is testdata/golden.json, written by testdata/gen_golden.py
// (NeuroX's get_top_words run by NumPy 1.24):
//
//	cd analysis/topwords && /usr/bin/python3 testdata/gen_golden.py
type goldenFile struct {
	Tokens  []int    `json:"tokens"`
	Types   []string `json:"types"`
	Neurons []struct {
		Name   string       `json:"name"`
		Values string       `json:"values"` // float32 little-endian, base64
		Top    [][2]float64 `json:"top"`    // (type index, score), in NeuroX's order
	} `json:"neurons"`
}

// TestMatchesNeuroX: on four neurons of 3,000 Zipf-distributed tokens
// (planted types, a sparse ReLU-like neuron whose all-zero types nearly
// tie, heavy tails around an offset, per-type levels at scale 1e-3), Of
// with NeuroX's defaults lists the same types as NeuroX's get_top_words,
// each type's score within 1e-6 of NeuroX's (which takes μ, σ and z in
// float32), and in the same order up to types whose NeuroX scores are
// within that of each other.
func TestMatchesNeuroX(t *testing.T) {
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Neurons) != 4 || len(g.Tokens) != 3000 {
		t.Fatalf("golden file: %d neurons, %d tokens", len(g.Neurons), len(g.Tokens))
	}
	tokens := make([]string, len(g.Tokens))
	for i, k := range g.Tokens {
		tokens[i] = g.Types[k]
	}
	const tol = 1e-6
	for _, n := range g.Neurons {
		raw, err := base64.StdEncoding.DecodeString(n.Values)
		if err != nil || len(raw) != 4*len(tokens) {
			t.Fatalf("%s: %d bytes of values (%v)", n.Name, len(raw), err)
		}
		values := make([]float32, len(tokens))
		for i := range values {
			values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		res, err := Of(tokens, values, Options{MinScore: DefaultMinScore})
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		want := map[string]float64{}
		for _, w := range n.Top {
			want[g.Types[int(w[0])]] = w[1]
		}
		if len(res.Words) != len(n.Top) {
			t.Fatalf("%s: %d types listed, NeuroX lists %d", n.Name, len(res.Words), len(n.Top))
		}
		for i, w := range res.Words {
			ws, ok := want[w.Word]
			if !ok {
				t.Fatalf("%s: %q (score %v) is not in NeuroX's list", n.Name, w.Word, w.Score)
			}
			if math.Abs(w.Score-ws) > tol {
				t.Fatalf("%s: %q scores %.9f, NeuroX %.9f", n.Name, w.Word, w.Score, ws)
			}
			if at := n.Top[i][1]; math.Abs(ws-at) > tol {
				t.Fatalf("%s: position %d holds %q (NeuroX score %.9f), NeuroX's holds %q (%.9f)",
					n.Name, i, w.Word, ws, g.Types[int(n.Top[i][0])], at)
			}
		}
	}
}
