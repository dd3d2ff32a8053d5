package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/ranking"
)

// visualizeFixture writes an activation file of 40 sentences over 6 neurons
// with random N(0, 1) activations, where neuron 3 fires at +3 on the word
// "hot" (which opens every fourth sentence) and neuron 5 is 0.5 on every
// token.
func visualizeFixture(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "v.gact")
	w, err := activations.Create(path, activations.Meta{Model: "test", Layers: []activations.Layer{{Name: "l0"}, {Name: "l1"}}, Dim: 3, DType: activations.Float32})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for s := range 40 {
		toks := make([]string, 3+s%5)
		rows := make([]float32, 6*len(toks))
		for i := range toks {
			toks[i] = fmt.Sprintf("w%d", rng.IntN(12))
			if rng.IntN(5) == 0 || i == 0 && s%4 == 0 {
				toks[i] = "hot"
			}
			for j := range 6 {
				rows[6*i+j] = float32(rng.NormFloat64())
			}
			if toks[i] == "hot" {
				rows[6*i+3] = 3 + 0.1*float32(rng.NormFloat64())
			}
			rows[6*i+5] = 0.5
		}
		if err := w.AppendSentence(toks, rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVisualize(t *testing.T) {
	dir := t.TempDir()
	acts := visualizeFixture(t, dir)
	code, js, errs := run("visualize", "--quiet", "--json", "--acts", acts, "--neurons", "3,5,0", "--words", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var v visualization
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Neurons) != 3 || v.Neurons[0].Neuron != 3 || v.Neurons[0].Name != "l1:0" || v.Neurons[2].Neuron != 0 {
		t.Fatalf("neurons %+v", v.Neurons)
	}
	hot := v.Neurons[0]
	if len(hot.Words) != 3 || hot.Words[0].Word != "hot" || hot.Words[0].Score != 1 || hot.Words[0].Mean < 2.8 || hot.Words[0].Mean > 3.2 {
		t.Fatalf("neuron 3's top words %+v, want \"hot\" first at ≈ 3", hot.Words)
	}
	if constant := v.Neurons[1]; constant.SD != 0 || constant.Min != 0.5 || len(constant.Words) != 0 {
		t.Fatalf("constant neuron reported as %+v", constant.Result)
	}
	if v.Neurons[2].Words[0].Word == "hot" {
		t.Fatalf("neuron 0 (pure noise) also led by \"hot\": %+v", v.Neurons[2].Words)
	}
	_, text, _ := run("visualize", "--quiet", "--acts", acts, "--neurons", "3,5")
	if !strings.Contains(text, "hot") || !strings.Contains(text, "neuron 5 (l1:2): 0.5 on every token") {
		t.Fatalf("text output:\n%s", text)
	}

	// The same neurons from a ranking file's first entries.
	rk := filepath.Join(dir, "r.json")
	if err := ranking.WriteFile(rk, &ranking.File{Version: ranking.FormatVersion, Method: ranking.MethodOrdering,
		NumNeurons: 6, Ordering: []int{3, 0, 1, 2, 4, 5}}); err != nil {
		t.Fatal(err)
	}
	code, js, errs = run("visualize", "--quiet", "--json", "--acts", acts, "--ranking", rk, "--top", "2")
	var fromRanking visualization
	if code != 0 || json.Unmarshal([]byte(js), &fromRanking) != nil || len(fromRanking.Neurons) != 2 ||
		fromRanking.Neurons[0].Neuron != 3 || fromRanking.Neurons[1].Neuron != 0 {
		t.Fatalf("--ranking --top 2: exit %d %s %s", code, errs, js)
	}

	// Plots in the three formats; the token with the largest |activation|
	// is drawn in full colour, and more sentences make a taller image.
	for _, ext := range []string{"svg", "png", "pdf"} {
		path := filepath.Join(dir, "v."+ext)
		if code, _, errs := run("visualize", "--quiet", "--acts", acts, "--neurons", "3", "--plot", path, "--sentences", "0-3,7"); code != 0 {
			t.Fatalf("--plot %s: %s", path, errs)
		}
		b, err := os.ReadFile(path)
		if err != nil || len(b) < 1000 {
			t.Fatalf("%s: %d bytes, %v", path, len(b), err)
		}
		if ext == "svg" && (!strings.Contains(string(b), ">hot</text>") || !strings.Contains(string(b), "fill:#00AAD4")) {
			t.Fatalf("the SVG lacks the token \"hot\" or a full-blue background")
		}
	}
	height := func(sentences string) int {
		path := filepath.Join(dir, "h.png")
		if code, _, errs := run("visualize", "--quiet", "--acts", acts, "--neurons", "3", "--plot", path, "--sentences", sentences); code != 0 {
			t.Fatal(errs)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		return img.Bounds().Dy()
	}
	if one, five := height("0"), height("0-4"); five <= one {
		t.Fatalf("5 sentences drawn %d px high, 1 sentence %d px", five, one)
	}
}

func TestVisualizeBadInput(t *testing.T) {
	dir := t.TempDir()
	acts := visualizeFixture(t, dir)
	rk := filepath.Join(dir, "r.json")
	if err := ranking.WriteFile(rk, &ranking.File{Version: ranking.FormatVersion, Method: ranking.MethodOrdering,
		NumNeurons: 7, Ordering: []int{3, 0, 1, 2, 4, 5, 6}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--acts", acts}, "give the neurons by --neurons or by --ranking"},
		{[]string{"--acts", acts, "--neurons", "1", "--ranking", rk}, "give the neurons by --neurons or by --ranking"},
		{[]string{"--acts", acts, "--neurons", "6"}, `"6" is outside [0, 6)`},
		{[]string{"--acts", acts, "--neurons", "1,x"}, `bad entry "x"`},
		{[]string{"--acts", acts, "--neurons", "1,0-2"}, "1 is listed twice"},
		{[]string{"--acts", acts, "--neurons", "1", "--plot", filepath.Join(dir, "p.svg"), "--sentences", "3-1"}, `bad entry "3-1"`},
		{[]string{"--acts", acts, "--neurons", "1", "--plot", filepath.Join(dir, "p.svg"), "--sentences", "0-40"}, "has 40 sentences"},
		{[]string{"--acts", acts, "--neurons", "1", "--plot", filepath.Join(dir, "p.jpg")}, "plot format must be"},
		{[]string{"--acts", acts, "--neurons", "1", "--min-score", "1"}, "--min-score 1: want a number in [0, 1)"},
		{[]string{"--acts", acts, "--ranking", rk}, "ranks 7 neurons (no columns recorded), the activation file has 6"},
		{[]string{"--acts", filepath.Join(dir, "none.gact"), "--neurons", "1"}, "none.gact"},
		{[]string{"--acts", acts, "--neurons", "1", "--top", "2"}, "--top picks the first neurons of --ranking"},
		{[]string{"--acts", acts, "--neurons", "1", "--sentences", "0-2"}, "--sentences chooses what --plot draws"},
	} {
		code, _, errs := run(append([]string{"visualize", "--quiet"}, c.args...)...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want it to mention %q", c.args, code, errs, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "p.svg")); err == nil {
		t.Error("a refused run wrote its plot")
	}
}

// TestActivationColor: white at 0, NeuroX's blue and red at ±limit, half
// way between at half the limit, clamped beyond it.
func TestActivationColor(t *testing.T) {
	white := color.RGBA{R: 255, G: 255, B: 255, A: 255}
	for _, c := range []struct {
		v    float32
		want color.RGBA
	}{
		{0, white}, {2, aboveZero}, {-2, belowZero}, {5, aboveZero}, {-5, belowZero},
		{1, color.RGBA{R: 128, G: 213, B: 234, A: 255}},
		{-1, color.RGBA{R: 233, G: 175, B: 175, A: 255}},
	} {
		if got := activationColor(c.v, 2); got != c.want {
			t.Errorf("activationColor(%g, 2) = %v, want %v", c.v, got, c.want)
		}
	}
}

// FuzzParseIndexList: any input either fails or gives distinct indices in
// [0, n) that, written back as a list, parse to the same indices.
func FuzzParseIndexList(f *testing.F) {
	for _, s := range []string{"0-4,17", "3", " 1 , 2-2", "5-3", "-1", "1,,2", "0-99999999999999999999"} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1000 {
			return
		}
		got, err := parseIndexList("--x", s, n)
		if err != nil {
			return
		}
		seen := map[int]bool{}
		var parts []string
		for _, i := range got {
			if i < 0 || i >= n || seen[i] {
				t.Fatalf("%q (n %d) gave %v", s, n, got)
			}
			seen[i] = true
			parts = append(parts, fmt.Sprint(i))
		}
		again, err := parseIndexList("--x", strings.Join(parts, ","), n)
		if err != nil || fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("%q gave %v; written back: %v, %v", s, got, again, err)
		}
	})
}

// TestPlotLayoutFitsThePage: a token wider than the page is cut to fit with
// "…", lines wrap inside the margins, and the panel grows with the lines.
func TestPlotLayoutFitsThePage(t *testing.T) {
	long := strings.Repeat("a", 300)
	words := strings.Fields(strings.Repeat("several words ", 40))
	p, err := newActivationPlot([][]string{{"x", long, "y"}, words}, 2)
	if err != nil {
		t.Fatal(err)
	}
	cut := p.tokens[0][1].text
	if !strings.HasSuffix(cut, "…") || !strings.HasPrefix(long, strings.TrimSuffix(cut, "…")) || len(cut) < 50 {
		t.Fatalf("a 300-letter token drawn as %q", cut)
	}
	lines := map[float64]bool{}
	for _, row := range p.tokens {
		for _, tok := range row {
			if right := tok.x + vizTokenFace.Width(tok.text); tok.x < vizMargin || right > vizWidth-vizMargin {
				t.Fatalf("token %.20q drawn from %v to %v, outside the margins", tok.text, tok.x, right)
			}
			lines[float64(tok.y)] = true
		}
	}
	if len(lines) < 6 {
		t.Fatalf("%d lines for a cut token and 80 words", len(lines))
	}
	if p.height != 2*vizMargin+2*p.panel {
		t.Fatalf("page %v for 2 panels of %v", p.height, p.panel)
	}
	many := make([][]string, 1000)
	for i := range many {
		many[i] = []string{"a", "b"}
	}
	if _, err := newActivationPlot(many, 1); err == nil || !strings.Contains(err.Error(), "1 neurons × 1000 sentences make a page") {
		t.Fatalf("a page of 1000 sentences: %v, want a refusal", err)
	}
	if _, err := newActivationPlot(many[:300], 1); err != nil {
		t.Fatalf("300 short sentences: %v", err)
	}
}
