package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/analysis/synthetic"
)

// run runs grain with args and returns its exit code, stdout and stderr.
func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	c := &cli{stdout: &out, stderr: &errb}
	code := c.main(args)
	return code, out.String(), errb.String()
}

// fixture writes a small planted-neuron split as a NeuroX text corpus and
// a grain activation file: sentences of 6 tokens whose labels come from a
// Zipf draw over 5 tags.
func fixture(t *testing.T, dir, name string, sentences int, seed uint64) (acts, tokens, labels string) {
	t.Helper()
	return fixtureOf(t, dir, name, "test", sentences, seed)
}

// fixtureOf is fixture with the activation file recording model.
func fixtureOf(t *testing.T, dir, name, model string, sentences int, seed uint64) (acts, tokens, labels string) {
	t.Helper()
	const per = 6
	y := synthetic.ZipfLabels(sentences*per, 5, 1, seed)
	cfg := synthetic.DefaultConfig(40)
	cfg.Seed = 9 // same planted neurons in every split
	x, _, err := synthetic.Activations(y, 5, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Different noise per split: shift rows by a split-specific draw.
	noise, _, _ := synthetic.Activations(make([]int32, len(y)), 5, synthetic.Config{Neurons: 40, Noise: 0.3, Seed: seed})
	for i := range x.Data {
		x.Data[i] += noise.Data[i]
	}
	acts = filepath.Join(dir, name+".gact")
	tokens = filepath.Join(dir, name+".tok")
	labels = filepath.Join(dir, name+".lab")
	w, err := activations.Create(acts, activations.Meta{Model: model, Layers: []activations.Layer{{Name: "l0"}, {Name: "l1"}}, Dim: 20, DType: activations.Float32})
	if err != nil {
		t.Fatal(err)
	}
	var tb, lb strings.Builder
	for s := 0; s < sentences; s++ {
		toks := make([]string, per)
		for i := range toks {
			toks[i] = fmt.Sprintf("w%d", (s*7+i*3)%50)
			if i > 0 {
				tb.WriteByte(' ')
				lb.WriteByte(' ')
			}
			tb.WriteString(toks[i])
			fmt.Fprintf(&lb, "T%d", y[s*per+i])
		}
		tb.WriteByte('\n')
		lb.WriteByte('\n')
		if err := w.AppendSentence(toks, x.RowSlice(s*per, per)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(tokens, []byte(tb.String()), 0o644)
	os.WriteFile(labels, []byte(lb.String()), 0o644)
	return acts, tokens, labels
}

func TestProbeRankAblatePipeline(t *testing.T) {
	dir := t.TempDir()
	ta, tt, tl := fixture(t, dir, "train", 400, 1)
	ea, et, el := fixture(t, dir, "test", 150, 2)
	probePath := filepath.Join(dir, "p.safetensors")
	code, out, errs := run("probe", "train", "--device", "cpu", "--quiet", "--acts", ta, "--corpus", tt, "--labels", tl,
		"--property", "tag", "--out", probePath, "--test-acts", ea, "--test-corpus", et, "--test-labels", el, "--control")
	if code != 0 {
		t.Fatalf("probe train: %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "accuracy") || !strings.Contains(out, "selectivity") {
		t.Fatalf("probe train output:\n%s", out)
	}
	rankPath := filepath.Join(dir, "r.json")
	code, out, errs = run("rank", "--probe", probePath, "--method", "ordering", "--out", rankPath, "--json")
	if code != 0 {
		t.Fatalf("rank: %d %s", code, errs)
	}
	var f ranking.File
	if err := json.Unmarshal([]byte(out), &f); err != nil || len(f.Ordering) != 40 || len(f.Cutoffs) != 101 {
		t.Fatalf("rank --json: %v, %d neurons, %d cutoffs", err, len(f.Ordering), len(f.Cutoffs))
	}
	code, _, errs = run("probe", "eval", "--device", "cpu", "--probe", probePath, "--acts", ea, "--corpus", et, "--labels", el, "--property", "pos")
	if want := "was trained for --property tag, not pos"; code == 0 || !strings.Contains(errs, want) {
		t.Fatalf("probe eval with another property: exit %d, %q, want %q", code, errs, want)
	}
	for _, m := range []string{"top", "bottom", "threshold", "random", "granular", "fixed-bottom"} {
		if code, _, errs := run("rank", "--probe", probePath, "--method", m, "--percent", "30"); code != 0 {
			t.Fatalf("rank --method %s: %s", m, errs)
		}
	}
	code, out, errs = run("ablate", "--device", "cpu", "--quiet", "--probe", probePath, "--ranking", rankPath, "--property", "tag",
		"--acts", ta, "--corpus", tt, "--labels", tl, "--test-acts", ea, "--test-corpus", et, "--test-labels", el, "--percents", "10,50", "--json")
	if code != 0 {
		t.Fatalf("ablate: %d %s", code, errs)
	}
	var res []struct {
		Selection string
		Percent   float64
		Zeroed    float64 `json:"zeroed_accuracy"`
		Retrained float64 `json:"retrained_accuracy"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 6 {
		t.Fatalf("ablate --json: %v %s", err, out)
	}
	if res[0].Selection != "top" || res[2].Selection != "bottom" || res[0].Retrained <= res[2].Retrained {
		t.Fatalf("ablation rows: %+v", res)
	}
	code, out, errs = run("rank", "--method", "probeless", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "tag")
	if code != 0 || !strings.Contains(out, "probeless") {
		t.Fatalf("probeless: %d %s %s", code, out, errs)
	}
	plotPath := filepath.Join(dir, "grid.png")
	code, out, errs = run("gridsearch", "--device", "cpu", "--quiet", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "tag",
		"--l1s", "0,1e-2", "--l2s", "0", "--plot", plotPath)
	if code != 0 || !strings.Contains(out, "chosen: --l1") {
		t.Fatalf("gridsearch: %d %s %s", code, out, errs)
	}
	if png, err := os.ReadFile(plotPath); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("gridsearch plot: %v", err)
	}
	code, out, errs = run("inspect", "--verify", ta)
	if code != 0 || !strings.Contains(out, "2400 tokens") || !strings.Contains(out, "verified") {
		t.Fatalf("inspect: %d %s %s", code, out, errs)
	}
}

// TestInputsOfAnotherModel: inputs that cannot belong together are named.
// A test split of another model than the training split, a ranking of
// another model's neurons (ablate, crosscorr --lca) get a warning; a probe
// of another width, or none of whose labels occurs in the data (another
// tool's probe without label names: "0", "1", …), is refused.
func TestInputsOfAnotherModel(t *testing.T) {
	dir := t.TempDir()
	ta, tt, tl := fixtureOf(t, dir, "train", "m1.safetensors", 200, 1)
	ea, et, el := fixtureOf(t, dir, "test", "m2.safetensors", 80, 2)
	ma, _, _ := fixtureOf(t, dir, "same", "m1.safetensors", 80, 3)
	probePath := filepath.Join(dir, "p.safetensors")
	code, _, errs := run("probe", "train", "--device", "cpu", "--quiet", "--acts", ta, "--corpus", tt, "--labels", tl,
		"--property", "tag", "--out", probePath, "--test-acts", ea, "--test-corpus", et, "--test-labels", el)
	if code != 0 || !strings.Contains(errs, "holds the neurons of m1.safetensors, "+ea+" those of m2.safetensors") {
		t.Fatalf("probe train on splits of two models: %d %q", code, errs)
	}
	other := filepath.Join(dir, "other.json")
	ord := make([]int, 40)
	for i := range ord {
		ord[i] = i
	}
	if err := ranking.WriteFile(other, &ranking.File{Version: ranking.FormatVersion, Method: "ordering", NumNeurons: 40, Ordering: ord, Model: "m2.safetensors"}); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run("ablate", "--device", "cpu", "--quiet", "--probe", probePath, "--ranking", other, "--acts", ta, "--corpus", tt, "--labels", tl,
		"--test-acts", ma, "--test-corpus", et, "--test-labels", el, "--property", "tag", "--percents", "50", "--retrain=false")
	if code != 0 || !strings.Contains(errs, other+" ranks the neurons of m2.safetensors, not of m1.safetensors") {
		t.Fatalf("ablate with another model's ranking: %d %q", code, errs)
	}
	// A training split with a label the probe lacks cannot retrain: refused
	// before any work.
	data, _ := os.ReadFile(tl)
	extra := filepath.Join(dir, "extra.lab")
	os.WriteFile(extra, []byte(strings.Replace(string(data), "T", "NEW", 1)[:len(data)+2]), 0o644)
	code, _, errs = run("ablate", "--device", "cpu", "--quiet", "--probe", probePath, "--ranking", other, "--acts", ta, "--corpus", tt, "--labels", extra,
		"--test-acts", ma, "--test-corpus", et, "--test-labels", el, "--property", "tag", "--percents", "50")
	if code == 0 || !strings.Contains(errs, ta+" has tag labels that "+probePath+" lacks (NEW") {
		t.Fatalf("ablate with a training label the probe lacks: %d %q", code, errs)
	}
	code, _, errs = run("crosscorr", "--device", "cpu", "--quiet", "--lca", other, ma, ea)
	if code != 0 || !strings.Contains(errs, other+" ranks the neurons of m2.safetensors, not of m1.safetensors") || strings.Contains(errs, "both hold") {
		t.Fatalf("crosscorr --lca of another model: %d %q", code, errs)
	}
	ma2, _, _ := fixtureOf(t, dir, "same2", "m1.safetensors", 80, 5)
	code, _, errs = run("crosscorr", "--device", "cpu", "--quiet", ma, ma2)
	if code != 0 || !strings.Contains(errs, ma+" and "+ma2+" both hold activations of m1.safetensors (0 neurons masked)") {
		t.Fatalf("crosscorr of one model twice: %d %q", code, errs)
	}
	// Two models that grain train wrote, each DIR/model.safetensors: no warning.
	r1, _, _ := fixtureOf(t, dir, "run1", "runs/s1/model.safetensors", 80, 6)
	r2, _, _ := fixtureOf(t, dir, "run2", "runs/s2/model.safetensors", 80, 7)
	if code, _, errs = run("crosscorr", "--device", "cpu", "--quiet", r1, r2); code != 0 || strings.Contains(errs, "both hold") {
		t.Fatalf("crosscorr of runs/s1 and runs/s2 model.safetensors: %d %q", code, errs)
	}
	eval := func(p *probe.Probe) (int, string) {
		path := filepath.Join(dir, "q.safetensors")
		if err := probe.Save(path, p); err != nil {
			t.Fatal(err)
		}
		code, _, errs := run("probe", "eval", "--device", "cpu", "--probe", path, "--acts", ea, "--corpus", et, "--labels", el, "--property", "tag")
		return code, errs
	}
	rng := rand.New(rand.NewPCG(4, 4))
	unnamed := probe.New([]string{"0", "1", "2", "3", "4"}, 40)
	for i := range unnamed.Weight {
		unnamed.Weight[i] = float32(rng.NormFloat64())
	}
	if code, errs := eval(unnamed); code == 0 || !strings.Contains(errs, "none of the probe's 5 labels (0, 1, 2, 3, 4) occurs among the tag labels of "+ea) {
		t.Fatalf("a probe without label names: %d %q", code, errs)
	}
	narrow := probe.New([]string{"T0", "T1", "T2", "T3", "T4"}, 30)
	for i := range narrow.Weight {
		narrow.Weight[i] = float32(rng.NormFloat64())
	}
	if code, errs := eval(narrow); code == 0 || !strings.Contains(errs, "has 30 input neurons; "+ea+" gives 40") {
		t.Fatalf("a probe of 30 inputs on 40 neurons: %d %q", code, errs)
	}
}

func TestBadInputErrors(t *testing.T) {
	dir := t.TempDir()
	ta, tt, tl := fixture(t, dir, "train", 20, 1)
	out := filepath.Join(dir, "p.safetensors")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown device", []string{"probe", "train", "--device", "tpu", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "x", "--out", out}, `unknown device "tpu"`},
		{"cuda not built", []string{"probe", "train", "--device", "cuda", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "x", "--out", out}, "not available in this build"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"missing flags", []string{"probe", "train"}, "missing --acts"},
		{"negative number", []string{"probe", "train", "--epochs", "-1", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "x", "--out", out}, "--epochs -1: want a number ≥ 0"},
		{"NaN", []string{"probe", "train", "--lr", "NaN", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "x", "--out", out}, "--lr NaN: want a finite number"},
		{"no device on a host command", []string{"inspect", "--device", "cuda", ta}, "flag provided but not defined: -device"},
		{"device after the files", []string{"crosscorr", ta, ta, "--device", "tpu"}, `unknown device "tpu"`},
		{"empty device", []string{"crosscorr", "--device", "", ta, ta}, "--device: empty"},
		{"output directory missing", []string{"probe", "train", "--device", "cpu", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "x", "--out", filepath.Join(dir, "no", "p.safetensors")}, "does not exist"},
		{"plot format", []string{"gridsearch", "--device", "cpu", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "x", "--plot", filepath.Join(dir, "g.jpg")}, "plot format must be .png, .svg or .pdf"},
		{"eval batch 0", []string{"eval", "--model", ta, "--batch", "0"}, "--batch 0: want at least 1 sentence"},
		{"eval beam 0", []string{"eval", "--model", ta, "--beam", "0"}, "--beam 0: want at least 1 (1: greedy)"},
		{"extract batch 0", []string{"extract", "--model", ta, "--corpus", tt, "--out", filepath.Join(dir, "x.gact"), "--batch", "0"}, "--batch 0: want at least 1 sentence"},
		{"inspect two files", []string{"inspect", ta, ta}, "give one activation file (2 given)"},
		{"labels beside CoNLL-U", []string{"probe", "train", "--device", "cpu", "--acts", ta, "--corpus", "c.conllu.gz", "--labels", tl, "--property", "upos", "--out", out}, "c.conllu.gz is CoNLL-U, which carries its own labels: --labels " + tl + " is for a NeuroX tokens file"},
		{"sweep NaN", []string{"eval", "--model", ta, "--mask-ranking", ta, "--sweep", "5,NaN"}, `bad percentage "NaN"`},
		{"output is the input", []string{"export", "--acts", ta, "--neurox-json", ta}, "is also an input (--acts, --neurox-json)"},
		{"gridsearch single λ", []string{"gridsearch", "--device", "cpu", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "x", "--l1", "5"}, "--l1 sets one probe's λ"},
		{"plot without sweep", []string{"eval", "--model", filepath.Join(dir, "none.safetensors"), "--plot", filepath.Join(dir, "s.png")}, "--plot draws a --sweep"},
		{"percent over 100", []string{"rank", "--probe", out, "--percent", "150"}, "--percent 150: want at most 100"},
		{"probeless flags on a probe method", []string{"rank", "--probe", out, "--acts", ta}, "are for --method probeless"},
	}
	// Two activation files with one name: crosscorr --out refuses before
	// correlating and writes nothing.
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	ab0, _ := os.ReadFile(ta)
	os.WriteFile(filepath.Join(sub, "train.gact"), ab0, 0o644)
	ccOut := filepath.Join(dir, "cc")
	cases = append(cases, struct {
		name string
		args []string
		want string
	}{"crosscorr name clash", []string{"crosscorr", "--device", "cpu", "--out", ccOut, ta, filepath.Join(sub, "train.gact")}, "two activation files are named train.gact"})
	// A labels file with one label too few on line 3.
	short := filepath.Join(dir, "short.lab")
	b, _ := os.ReadFile(tl)
	lines := strings.Split(string(b), "\n")
	lines[2] = lines[2][:strings.LastIndex(lines[2], " ")]
	os.WriteFile(short, []byte(strings.Join(lines, "\n")), 0o644)
	cases = append(cases, struct {
		name string
		args []string
		want string
	}{"count mismatch", []string{"probe", "train", "--device", "cpu", "--acts", ta, "--corpus", tt, "--labels", short, "--property", "x", "--out", out}, ":3:"})
	// A truncated activation file.
	trunc := filepath.Join(dir, "trunc.gact")
	ab, _ := os.ReadFile(ta)
	os.WriteFile(trunc, ab[:len(ab)-100], 0o644)
	cases = append(cases, struct {
		name string
		args []string
		want string
	}{"truncated activations", []string{"inspect", trunc}, "trunc.gact"})
	for _, c := range cases {
		code, _, errs := run(c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want it to mention %q", c.name, code, errs, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run left a probe file behind")
	}
	if r, err := activations.Open(ta); err != nil {
		t.Errorf("the activation file given as output too: %v", err)
	} else {
		r.Close()
	}
	if _, err := os.Stat(ccOut); err == nil {
		t.Error("crosscorr refused its output names but made its output directory")
	}
	// Flags may follow the positional argument.
	if code, _, errs := run("inspect", ta, "--verify"); code != 0 {
		t.Errorf("inspect FILE --verify: exit %d: %s", code, errs)
	}
	// export --json reports what it wrote as JSON.
	code, stdout, errs := run("export", "--acts", ta, "--neurox-json", filepath.Join(dir, "x.json"), "--json")
	var rep struct{ Sentences, Tokens int }
	if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil || rep.Sentences != 20 || rep.Tokens != 120 {
		t.Errorf("export --json: exit %d, %v, %+v: %s", code, err, rep, errs)
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := run("help")
	for _, cmd := range []string{"demo", "lca", "probe", "rank", "ablate", "gridsearch", "import", "export", "inspect"} {
		if !strings.Contains(out, cmd) {
			t.Errorf("help lacks %s", cmd)
		}
	}
	if code != 0 {
		t.Fatal(code)
	}
}

// TestDemo runs the main job on a small slice of EWT and checks the
// ranking against the planted truth.
func TestDemo(t *testing.T) {
	code, out, errs := run("demo", "--synthetic", "--device", "cpu", "--quiet", "--json", "--sentences", "1500")
	if code != 0 {
		t.Fatalf("demo: %d %s", code, errs)
	}
	var r struct {
		Report struct {
			Test struct {
				Accuracy float64 `json:"accuracy"`
				Majority float64 `json:"majority_baseline"`
			} `json:"test"`
			Selectivity float64                 `json:"selectivity"`
			Ordering    struct{ Neurons []int } `json:"ordering"`
		} `json:"report"`
		Truth struct {
			Planted [][]int
			Copies  map[string][]int
		} `json:"truth"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	carriers := map[int]bool{}
	for _, p := range r.Truth.Planted {
		for _, j := range p {
			carriers[j] = true
		}
	}
	for _, cs := range r.Truth.Copies {
		for _, j := range cs {
			carriers[j] = true
		}
	}
	hits := 0
	for _, j := range r.Report.Ordering.Neurons[:len(carriers)] {
		if carriers[j] {
			hits++
		}
	}
	if float64(hits) < 0.9*float64(len(carriers)) {
		t.Errorf("only %d of the top %d neurons are planted", hits, len(carriers))
	}
	if r.Report.Test.Accuracy < 0.8 || r.Report.Test.Accuracy < r.Report.Test.Majority+0.5 || r.Report.Selectivity < 0.3 {
		t.Errorf("demo accuracy %.3f (majority %.3f), selectivity %.3f", r.Report.Test.Accuracy, r.Report.Test.Majority, r.Report.Selectivity)
	}
}

// TestDemoOnShippedModel runs the main job itself (on fewer sentences):
// the shipped NMT encoder's activations over EWT must carry POS well above
// the majority baseline, and its top neurons must beat its bottom ones.
func TestDemoOnShippedModel(t *testing.T) {
	code, out, errs := run("demo", "--device", "auto", "--quiet", "--json", "--sentences", "800")
	if code != 0 {
		t.Fatalf("demo: %d %s", code, errs)
	}
	// The device is opened once (for the model and the probes): one notice.
	if n := strings.Count(errs, "using the CPU"); n > 1 {
		t.Errorf("%d device notices:\n%s", n, errs)
	}
	var r struct {
		Report struct {
			Test struct {
				Accuracy float64 `json:"accuracy"`
				Majority float64 `json:"majority_baseline"`
			} `json:"test"`
			Selectivity float64 `json:"selectivity"`
			Ablation    []struct {
				Selection string  `json:"selection"`
				Percent   float64 `json:"percent"`
				Zeroed    float64 `json:"zeroed_accuracy"`
			} `json:"ablation"`
		} `json:"report"`
		Layers []struct {
			Layer    string  `json:"layer"`
			Accuracy float64 `json:"accuracy"`
		} `json:"layers"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	rep := r.Report
	if rep.Test.Accuracy < rep.Test.Majority+0.3 || rep.Selectivity <= 0 {
		t.Errorf("POS accuracy %.3f vs majority %.3f, selectivity %.3f", rep.Test.Accuracy, rep.Test.Majority, rep.Selectivity)
	}
	zeroed := map[string]float64{}
	for _, a := range rep.Ablation {
		if a.Percent == 20 {
			zeroed[a.Selection] = a.Zeroed
		}
	}
	if zeroed["top"] <= zeroed["bottom"] {
		t.Errorf("keeping the top 20%% (%.3f) does not beat the bottom 20%% (%.3f)", zeroed["top"], zeroed["bottom"])
	}
	if len(r.Layers) != 3 || r.Layers[0].Layer != "enc0/forward" {
		t.Errorf("layer probes %+v", r.Layers)
	}
}

// TestCrossCorr writes two models' activations over the same sentences,
// where neurons 3 and 7 of model A appear (scaled, one negated, plus noise)
// as neurons 0 and 5 of model B, and checks that MaxCorr ranks them first
// and names their partners; then a third file with other tokens is refused.
func TestCrossCorr(t *testing.T) {
	dir := t.TempDir()
	const sents, per, n = 300, 5, 12
	r := rand.New(rand.NewPCG(4, 4))
	a := make([]float32, sents*per*n)
	bm := make([]float32, sents*per*n)
	for i := 0; i < sents*per; i++ {
		for j := 0; j < n; j++ {
			a[i*n+j] = float32(r.NormFloat64())
			bm[i*n+j] = float32(r.NormFloat64())
		}
		bm[i*n+0] = 2*a[i*n+3] + 0.1*float32(r.NormFloat64())
		bm[i*n+5] = -0.5*a[i*n+7] + 0.05*float32(r.NormFloat64())
	}
	write := func(name string, x []float32, word string) string {
		path := filepath.Join(dir, name)
		w, err := activations.Create(path, activations.Meta{Model: name, Layers: []activations.Layer{{Name: "l"}}, Dim: n})
		if err != nil {
			t.Fatal(err)
		}
		for s := 0; s < sents; s++ {
			toks := []string{word, "b", "c", "d", fmt.Sprint(s)}
			if err := w.AppendSentence(toks, x[s*per*n:(s+1)*per*n]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pa, pb := write("a.gact", a, "a"), write("b.gact", bm, "a")
	plotPath := filepath.Join(dir, "scores.svg")
	code, out, errs := run("crosscorr", "--device", "cpu", "--quiet", "--json", "--method", "maxcorr", "--plot", plotPath, "--out", dir, pa, pb)
	if code != 0 {
		t.Fatalf("crosscorr: %d %s", code, errs)
	}
	if svg, err := os.ReadFile(plotPath); err != nil || !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("b.gact")) {
		t.Fatalf("crosscorr plot: %v", err)
	}
	var res struct {
		Ranking struct {
			Models []struct {
				Ranking []struct {
					Neuron  int `json:"neuron"`
					Partner struct {
						Neuron int     `json:"neuron"`
						R      float64 `json:"r"`
					} `json:"partner"`
				} `json:"ranking"`
			} `json:"models"`
		} `json:"ranking"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	ra := res.Ranking.Models[0].Ranking
	top := map[int]int{ra[0].Neuron: ra[0].Partner.Neuron, ra[1].Neuron: ra[1].Partner.Neuron}
	if top[3] != 0 || top[7] != 5 || ra[0].Partner.R*ra[1].Partner.R >= 0 {
		t.Fatalf("top of model A: %+v", ra[:2])
	}
	// --out wrote model A's ranking as a ranking file, scores by neuron.
	f, err := ranking.ReadFile(filepath.Join(dir, "a.maxcorr.json"))
	if err != nil || f.Method != "crosscorr-maxcorr" || f.Ordering[0] != ra[0].Neuron || f.Scores[3] < 0.9 || f.Scores[3] <= f.Scores[4] {
		t.Fatalf("ranking file of model A: %+v, %v", f, err)
	}
	// --out would overwrite the --lca ranking it reads: refused.
	if code, _, errs := run("crosscorr", "--device", "cpu", "--quiet", "--lca", filepath.Join(dir, "a.maxcorr.json"), "--out", dir, pa, pb); code == 0 || !strings.Contains(errs, "a.maxcorr.json is also an input (--lca)") {
		t.Fatalf("--out over the --lca input: %d %q", code, errs)
	}
	// The same file twice is refused; two files of one name are told
	// apart by their paths.
	if code, _, errs := run("crosscorr", "--device", "cpu", "--quiet", pa, pa); code == 0 || !strings.Contains(errs, "record the same activation checksum") {
		t.Fatalf("one file twice: %d %q", code, errs)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	pb2 := filepath.Join(dir, "sub", "a.gact")
	if err := os.Rename(pb, pb2); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run("crosscorr", "--device", "cpu", "--quiet", "--json", pa, pb2)
	var named struct {
		Ranking struct{ Models []struct{ Model string } }
	}
	if err := json.Unmarshal([]byte(out), &named); code != 0 || err != nil || len(named.Ranking.Models) != 2 ||
		named.Ranking.Models[0].Model != pa || named.Ranking.Models[1].Model != pb2 {
		t.Fatalf("two files named a.gact: %d %v %+v %s", code, err, named, errs)
	}
	// The same sentences with a different first word: not the same tokens.
	pc := write("c.gact", bm, "z")
	if code, _, errs := run("crosscorr", "--device", "cpu", "--quiet", pa, pc); code == 0 || !strings.Contains(errs, "sentence 0") {
		t.Fatalf("misaligned files: %d %q", code, errs)
	}
}

// TestParseFlagsAnywhere: flags may follow positional arguments; "--" ends
// the flags unless it is a flag's value.
func TestParseFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		pos    []string
		json   bool
		memory string
	}{
		{[]string{"a", "--json", "b"}, []string{"a", "b"}, true, ""},
		{[]string{"--json", "--", "--x"}, []string{"--x"}, true, ""},
		{[]string{"a", "--", "b", "--json"}, []string{"a", "b", "--json"}, false, ""},
		{[]string{"--memory", "--", "a", "--json"}, []string{"a"}, true, "--"},
		{[]string{"--memory=--", "a", "--", "--json"}, []string{"a", "--json"}, false, "--"},
	} {
		c := &cli{stdout: io.Discard, stderr: io.Discard}
		fs := c.flags("x", "x", 0)
		memory := fs.String("memory", "", "")
		if err := c.parse(fs, tc.args, true); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !reflect.DeepEqual(fs.Args(), tc.pos) && !(len(fs.Args()) == 0 && len(tc.pos) == 0) || c.json != tc.json || *memory != tc.memory {
			t.Errorf("%q: positional %q json %v memory %q; want %q %v %q", tc.args, fs.Args(), c.json, *memory, tc.pos, tc.json, tc.memory)
		}
	}
}

// TestLayerSelectionUsesGlobalNeurons: with --layers, the files index the
// selected neurons and record them in "columns", the text reports global
// neuron indices, and every command that reads the files maps them back or
// refuses a mismatched selection.
func TestLayerSelectionUsesGlobalNeurons(t *testing.T) {
	dir := t.TempDir()
	ta, tt, tl := fixture(t, dir, "train", 200, 1)
	ea, et, el := fixture(t, dir, "test", 80, 2)
	out := filepath.Join(dir, "lca-l1")
	// An earlier run's ablation plot in --out is removed by a run without one.
	os.Mkdir(out, 0o755)
	stale := filepath.Join(out, "ablation.png")
	os.WriteFile(stale, []byte("an earlier run's plot"), 0o644)
	split := []string{"--property", "tag", "--acts", ta, "--corpus", tt, "--labels", tl, "--test-acts", ea, "--test-corpus", et, "--test-labels", el}
	code, text, errs := run(append([]string{"lca", "--device", "cpu", "--quiet", "--layers", "l1", "--ablate=false", "--control=false", "--out", out}, split...)...)
	if code != 0 {
		t.Fatalf("lca --layers l1: %s", errs)
	}
	if !strings.Contains(text, "/{probe.safetensors,ranking.json,report.json}\n") {
		t.Errorf("lca --ablate=false claims files it did not write:\n%s", text)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) || !strings.Contains(text, "removed "+stale) {
		t.Errorf("lca --ablate=false left an earlier run's ablation.png (%v):\n%s", err, text)
	}
	rankPath := filepath.Join(out, "ranking.json")
	f, err := ranking.ReadFile(rankPath)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, 20)
	for i := range want {
		want[i] = 20 + i
	}
	if f.NumNeurons != 20 || !reflect.DeepEqual(f.Columns, want) || f.Model != "test" {
		t.Fatalf("ranking of layer l1: %d neurons, columns %v, model %q", f.NumNeurons, f.Columns, f.Model)
	}
	var top []int
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "top neurons: "); ok {
			for _, w := range strings.Fields(rest)[:5] {
				var n int
				fmt.Sscan(w, &n)
				top = append(top, n)
			}
		}
	}
	if len(top) != 5 || top[0] != 20+f.Ordering[0] || top[4] != 20+f.Ordering[4] {
		t.Fatalf("text's top neurons %v for the file's ordering %v + 20", top, f.Ordering[:5])
	}
	// rank keeps the probe's columns.
	code, js, errs := run("rank", "--json", "--probe", filepath.Join(out, "probe.safetensors"), "--method", "ordering")
	var fromProbe ranking.File
	if code != 0 || json.Unmarshal([]byte(js), &fromProbe) != nil || !reflect.DeepEqual(fromProbe.Columns, want) || !reflect.DeepEqual(fromProbe.Ordering, f.Ordering) || fromProbe.Model != "test" {
		t.Fatalf("rank from the layer probe: exit %d %s: %+v", code, errs, fromProbe)
	}
	// visualize maps the ranking's first neurons to global indices.
	code, js, errs = run("visualize", "--quiet", "--json", "--acts", ta, "--ranking", rankPath, "--top", "2")
	var v visualization
	if code != 0 || json.Unmarshal([]byte(js), &v) != nil || len(v.Neurons) != 2 || v.Neurons[0].Neuron != 20+f.Ordering[0] || v.Neurons[1].Neuron != 20+f.Ordering[1] {
		t.Fatalf("visualize --ranking: exit %d %s: %+v", code, errs, v.Neurons)
	}
	// ablate and probe eval take the same selection and refuse another.
	probePath := filepath.Join(out, "probe.safetensors")
	if code, _, errs := run(append([]string{"ablate", "--device", "cpu", "--quiet", "--layers", "l1", "--probe", probePath, "--ranking", rankPath, "--percents", "50", "--retrain=false"}, split...)...); code != 0 {
		t.Fatalf("ablate --layers l1: %s", errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append([]string{"ablate", "--device", "cpu", "--quiet", "--probe", probePath, "--ranking", rankPath, "--percents", "50"}, split...),
			"was trained on 20 neurons (20–39), but --layers/--direction select all 40 neurons"},
		{[]string{"probe", "eval", "--device", "cpu", "--layers", "l0", "--probe", probePath, "--acts", ea, "--corpus", et, "--labels", el, "--property", "tag"},
			"was trained on 20 neurons (20–39), but --layers/--direction select 20 neurons (0–19)"},
		{[]string{"overlap", rankPath, filepath.Join(dir, "l0.json")}, "ranks 20 neurons (20–39) and " + filepath.Join(dir, "l0.json") + " 20 neurons (0–19)"},
		{[]string{"overlap", rankPath, filepath.Join(dir, "full.json")}, "40 neurons (no columns recorded)"},
	} {
		if c.args[0] == "overlap" {
			l0 := make([]int, 20)
			for i := range l0 {
				l0[i] = i
			}
			for name, f := range map[string]*ranking.File{
				"l0.json":   {Version: ranking.FormatVersion, Method: "x", NumNeurons: 20, Columns: l0, Ordering: []int{0}},
				"full.json": {Version: ranking.FormatVersion, Method: "x", NumNeurons: 40, Ordering: []int{0}},
			} {
				if err := ranking.WriteFile(filepath.Join(dir, name), f); err != nil {
					t.Fatal(err)
				}
			}
		}
		if code, _, errs := run(c.args...); code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want it to mention %q", c.args[0], code, errs, c.want)
		}
	}
	// Rankings of two models' activations of one size: compared, with a
	// warning.
	otherModel := filepath.Join(dir, "other-model.json")
	if err := ranking.WriteFile(otherModel, &ranking.File{Version: ranking.FormatVersion, Method: "x", Model: "elsewhere/other.safetensors", NumNeurons: 20, Columns: want, Ordering: []int{0}}); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run("overlap", rankPath, otherModel); code != 0 || !strings.Contains(errs, "warning: "+rankPath+" ranks the neurons of test, not of elsewhere/other.safetensors") {
		t.Errorf("overlap of two models' rankings: exit %d, stderr %q", code, errs)
	}
	// A probe that records no columns (saved before grain recorded them,
	// or by another tool) is taken at its word for a selection of its size.
	legacy := filepath.Join(dir, "legacy.safetensors")
	p, err := probe.Load(probePath)
	if err != nil {
		t.Fatal(err)
	}
	delete(p.Meta, "columns")
	if err := probe.Save(legacy, p); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run("probe", "eval", "--device", "cpu", "--layers", "l1", "--probe", legacy, "--acts", ea, "--corpus", et, "--labels", el, "--property", "tag"); code != 0 || strings.Contains(errs, "warning") {
		t.Errorf("probe eval of a probe recording no columns: %s", errs)
	}
	// A probe trained on another model's activations: evaluated, with a
	// warning.
	p.Meta["model"] = "elsewhere/other.safetensors"
	if err := probe.Save(legacy, p); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run("probe", "eval", "--device", "cpu", "--layers", "l1", "--probe", legacy, "--acts", ea, "--corpus", et, "--labels", el, "--property", "tag"); code != 0 ||
		!strings.Contains(errs, "warning: "+legacy+" was trained on the neurons of elsewhere/other.safetensors; "+ea+" holds those of test") {
		t.Errorf("probe eval of another model's probe: exit %d, stderr %q", code, errs)
	}
}

func TestDescribeNeurons(t *testing.T) {
	for _, c := range []struct {
		cols []int
		want string
	}{
		{[]int{0, 1, 2, 5, 7, 8, 9}, "7 neurons (0–2, 5, 7–9)"},
		{[]int{4}, "1 neuron (4)"},
		{[]int{0, 2, 4, 6, 8, 10}, "6 neurons (0, 2, 4, 6, …)"},
	} {
		if got := describeNeurons(c.cols); got != c.want {
			t.Errorf("describeNeurons(%v) = %q, want %q", c.cols, got, c.want)
		}
	}
	if got := describeSelection(nil, 768); got != "all 768 neurons (no --layers/--direction)" {
		t.Errorf("describeSelection(nil) = %q", got)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"2GiB": 2 << 30, "1.5KiB": 1536, "512MB": 512e6, "4096": 4096, "1B": 1} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0.5B", "0", "-1MiB", "NaNGiB", "1e30GiB", "lots"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}

// TestParsePercents: the order given, each percentage once, and a bad
// entry named.
func TestParsePercents(t *testing.T) {
	got, err := parsePercents("10, 5,10,100,5")
	if err != nil || !reflect.DeepEqual(got, []float64{10, 5, 100}) {
		t.Fatalf("parsePercents: %v, %v", got, err)
	}
	if _, err := parsePercents("5,-1"); err == nil || !strings.Contains(err.Error(), `bad percentage "-1"`) {
		t.Fatalf("parsePercents(5,-1): %v", err)
	}
}

// TestProbelessNeedsTwoLabels: a property with one label has no class
// means to compare: refused, not a ranking of zeros.
func TestProbelessNeedsTwoLabels(t *testing.T) {
	dir := t.TempDir()
	ta, tt, tl := fixture(t, dir, "train", 20, 1)
	data, err := os.ReadFile(tl)
	if err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.lab")
	os.WriteFile(one, []byte(regexp.MustCompile(`T\d`).ReplaceAllString(string(data), "X")), 0o644)
	code, _, errs := run("rank", "--method", "probeless", "--acts", ta, "--corpus", tt, "--labels", one, "--property", "tag")
	if code == 0 || !strings.Contains(errs, "property tag has 1 label (X) there: probeless ranking compares the class means of at least 2") {
		t.Fatalf("probeless over one label: %d %q", code, errs)
	}
	if code, _, errs := run("rank", "--method", "probeless", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "tag"); code != 0 {
		t.Fatalf("probeless over 5 labels: %d %q", code, errs)
	}
}

// TestGridSearchNeedsADevSplit: 120 training tokens hold out too few to
// choose (λ1, λ2) on: refused, naming the counts and the flags to give.
func TestGridSearchNeedsADevSplit(t *testing.T) {
	dir := t.TempDir()
	ta, tt, tl := fixture(t, dir, "train", 20, 1)
	code, _, errs := run("gridsearch", "--device", "cpu", "--quiet", "--acts", ta, "--corpus", tt, "--labels", tl, "--property", "tag", "--l1s", "0", "--l2s", "0,1e-3")
	if code == 0 || !strings.Contains(errs, "120 training tokens hold out") || !strings.Contains(errs, "fewer than 20; give --dev-acts and --dev-corpus") {
		t.Fatalf("gridsearch on 120 tokens: %d %q", code, errs)
	}
}
