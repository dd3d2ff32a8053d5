package probe

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
	"github.com/grainlab/grain/engine/safetensors"
)

// refNeuroX trains the NeuroX protocol in float64 from the same initial
// weights for the given number of Adam steps: mean CE over each batch of 32
// consecutive rows + λ1·Σ|W| + λ2·sqrt(ΣW²), Adam (PyTorch formulation).
func refNeuroX(x []float32, y []int32, rows, n, k int, cfg Config, steps int) (w, b []float64) {
	w0, b0 := InitialWeights(k, n, cfg.Seed)
	w, b = toF64(w0), toF64(b0)
	mw, vw := make([]float64, len(w)), make([]float64, len(w))
	mb, vb := make([]float64, k), make([]float64, k)
	gw, gb := make([]float64, len(w)), make([]float64, k)
	adam := func(p, g, m, v []float64, t int) {
		bc1, bc2 := 1-math.Pow(0.9, float64(t)), 1-math.Pow(0.999, float64(t))
		for i := range p {
			m[i] = 0.9*m[i] + 0.1*g[i]
			v[i] = 0.999*v[i] + 0.001*g[i]*g[i]
			p[i] -= cfg.LR / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + 1e-8)
		}
	}
	start := 0
	for t := 1; t <= steps; t++ {
		if start >= rows {
			start = 0
		}
		end := min(start+cfg.BatchSize, rows)
		bs := float64(end - start)
		clear(gw)
		clear(gb)
		logit := make([]float64, k)
		for r := start; r < end; r++ {
			z := x[r*n : (r+1)*n]
			mx := math.Inf(-1)
			for l := 0; l < k; l++ {
				s := b[l]
				for j := 0; j < n; j++ {
					s += w[l*n+j] * float64(z[j])
				}
				logit[l] = s
				mx = math.Max(mx, s)
			}
			var sum float64
			for l := range logit {
				sum += math.Exp(logit[l] - mx)
			}
			for l := 0; l < k; l++ {
				d := math.Exp(logit[l]-mx) / sum
				if int32(l) == y[r] {
					d--
				}
				d /= bs
				gb[l] += d
				for j := 0; j < n; j++ {
					gw[l*n+j] += d * float64(z[j])
				}
			}
		}
		var ss float64
		for _, v := range w {
			ss += v * v
		}
		norm := math.Sqrt(ss)
		for i, v := range w {
			if v > 0 {
				gw[i] += cfg.L1
			} else if v < 0 {
				gw[i] -= cfg.L1
			}
			gw[i] += cfg.L2 * v / norm
		}
		adam(w, gw, mw, vw, t)
		adam(b, gb, mb, vb, t)
		start = end
	}
	return w, b
}

func toF64(x []float32) []float64 {
	d := make([]float64, len(x))
	for i, v := range x {
		d[i] = float64(v)
	}
	return d
}

// TestNeuroXModeMatchesFloat64Reference trains 50 steps (an epoch of 40
// batches, the last one short, then 10 more) and compares every weight.
func TestNeuroXModeMatchesFloat64Reference(t *testing.T) {
	const rows, n, k = 32*39 + 17, 64, 5
	d, _, err := synthetic.Dataset(rows, k, synthetic.Config{Neurons: n, PlantedPerLabel: 2, CopiesPerLabel: 1, Signal: 2, Noise: 1, CopyNoise: 0.5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(ModeNeuroX)
	cfg.L1, cfg.L2, cfg.Seed = 1e-3, 1e-3, 7
	dense := d.X.(*dataset.Dense)
	b := cpu.New()
	tr, err := newTrainer(b, d, k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for steps < 50 {
		err := tr.data.each(nil, func(x, y *engine.Tensor) {
			if steps < 50 {
				tr.stepBatch(x, y, tr.losses.Slice(0, 1))
				steps++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := New(d.Labels, n)
	if err := tr.download(got); err != nil {
		t.Fatal(err)
	}
	wRef, bRef := refNeuroX(dense.Data, d.Y, rows, n, k, cfg, 50)
	var worst float64
	for i := range wRef {
		worst = math.Max(worst, math.Abs(float64(got.Weight[i])-wRef[i]))
	}
	for i := range bRef {
		worst = math.Max(worst, math.Abs(float64(got.Bias[i])-bRef[i]))
	}
	if worst > 1e-5 {
		t.Fatalf("after 50 steps max |Δ| between grain and the float64 reference = %.3g > 1e-5", worst)
	}
	w0, _ := InitialWeights(k, n, cfg.Seed)
	var moved float64
	for i := range w0 {
		moved = math.Max(moved, math.Abs(float64(w0[i])-wRef[i]))
	}
	if moved < 1e-3 {
		t.Fatalf("weights barely moved (%.3g): the comparison is vacuous", moved)
	}
	t.Logf("max |Δ| = %.3g after 50 steps (weights moved up to %.3g)", worst, moved)
}

func TestTrainRejectsBadInput(t *testing.T) {
	d, _, err := synthetic.Dataset(300, 3, synthetic.DefaultConfig(20))
	if err != nil {
		t.Fatal(err)
	}
	x := d.X.(*dataset.Dense)
	x.Data[123*20+7] = float32(math.NaN())
	b := cpu.New()
	if _, _, err := Train(b, d, DefaultConfig(ModeFast), nil); err == nil || !strings.Contains(err.Error(), "token row 123, neuron 7") {
		t.Fatalf("NaN input: %v", err)
	}
	x.Data[123*20+7] = 0
	d.Y[5] = dataset.Unknown
	if _, _, err := Train(b, d, DefaultConfig(ModeFast), nil); err == nil || !strings.Contains(err.Error(), "row 5") {
		t.Fatalf("unknown label: %v", err)
	}
	d.Y[5] = 0
	// Each refused up front, by the setting's name (not by diverging).
	for want, spoil := range map[string]func(*Config){
		"λ1=-1":         func(c *Config) { c.L1 = -1 },
		"λ2=+Inf":       func(c *Config) { c.L2 = math.Inf(1) },
		"finite lr":     func(c *Config) { c.LR = math.NaN() },
		"lr > 0 (got 6": func(c *Config) { c.LR = math.Inf(1) },
		"dev fraction":  func(c *Config) { c.DevFraction = math.NaN() },
	} {
		bad := DefaultConfig(ModeFast)
		spoil(&bad)
		if _, _, err := Train(b, d, bad, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to mention %q", err, want)
		}
	}
	// A λ1 whose gradient's square overflows float32 (Adam would stop
	// updating and return the starting weights), in either mode; 1e3 is
	// merely strong.
	for _, mode := range []Mode{ModeFast, ModeNeuroX} {
		cfg := DefaultConfig(mode)
		cfg.Epochs, cfg.L1 = 1, 1e25
		if _, _, err := Train(b, d, cfg, nil); err == nil || !strings.Contains(err.Error(), "a squared gradient overflowed float32") || !strings.Contains(err.Error(), "λ1 (1e+25)") {
			t.Errorf("%s, λ1 = 1e25: %v", mode, err)
		}
		cfg.L1 = 1e3
		if _, _, err := Train(b, d, cfg, nil); err != nil {
			t.Errorf("%s, λ1 = 1e3: %v", mode, err)
		}
	}
}

// TestDeterministic trains twice with one seed (same weights) and once with
// another (different weights).
func TestDeterministic(t *testing.T) {
	d, _, err := synthetic.Dataset(2000, 4, synthetic.DefaultConfig(30))
	if err != nil {
		t.Fatal(err)
	}
	b := cpu.New()
	cfg := DefaultConfig(ModeFast)
	p1, _, _ := Train(b, d, cfg, nil)
	p2, _, _ := Train(b, d, cfg, nil)
	cfg.Seed = 2
	p3, _, _ := Train(b, d, cfg, nil)
	same, diff := true, false
	for i := range p1.Weight {
		same = same && p1.Weight[i] == p2.Weight[i]
		diff = diff || p1.Weight[i] != p3.Weight[i]
	}
	if !same || !diff {
		t.Fatalf("same seed identical: %v, other seed differs: %v", same, diff)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	d, _, err := synthetic.Dataset(500, 3, synthetic.DefaultConfig(12))
	if err != nil {
		t.Fatal(err)
	}
	b := cpu.New()
	p, _, err := Train(b, d, DefaultConfig(ModeFast), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.safetensors")
	if err := Save(path, p); err != nil {
		t.Fatal(err)
	}
	q, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Weight, q.Weight) || !reflect.DeepEqual(p.Bias, q.Bias) || !reflect.DeepEqual(p.Labels, q.Labels) || q.Meta["mode"] != "fast" {
		t.Fatalf("round trip differs: %v %v", q.Labels, q.Meta)
	}
	// A file without the weight tensor is a clear error.
	os.WriteFile(path, []byte("garbage"), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("garbage probe: %v", err)
	}
}

// TestLoadRejectsBadFiles checks that Load refuses, naming the file, a
// non-finite weight or bias, a grain probe without label names and
// duplicate label names, and still reads another tool's probe (a
// NeuroX/PyTorch state dict) without labels.
func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	files := 0
	// labels "" writes none; "grain" writes grain's format key and none.
	write := func(prefix string, weight, bias []float32, labels string) string {
		t.Helper()
		f := &safetensors.File{Tensors: []safetensors.Tensor{
			safetensors.NewF32(prefix+"weight", []int{3, 2}, weight),
			safetensors.NewF32(prefix+"bias", []int{3}, bias),
		}}
		switch labels {
		case "":
		case "grain":
			f.Metadata = map[string]string{"format": "grain-probe"}
		default:
			f.Metadata = map[string]string{"labels": labels}
		}
		files++
		path := filepath.Join(dir, fmt.Sprintf("p%d.safetensors", files))
		if err := safetensors.WriteFile(path, f); err != nil {
			t.Fatal(err)
		}
		return path
	}
	w := []float32{1, 2, 3, 4, 5, 6}
	for _, c := range []struct {
		name, prefix   string
		weight, bias   []float32
		labels, wanted string
	}{
		{"+Inf bias", "", w, []float32{0, inf, 0}, `["A","B","C"]`, `bias [1] (label "B") is +Inf`},
		{"NaN bias", "linear.", w, []float32{nan, 0, 0}, `["A","B","C"]`, `bias [0] (label "A") is NaN`},
		{"-Inf weight", "", []float32{1, 2, 3, float32(math.Inf(-1)), 5, 6}, []float32{0, 0, 0}, `["A","B","C"]`, "weight [1, 1] is -Inf"},
		{"grain probe without labels", "", w, []float32{0, 0, 0}, "grain", `a grain probe without "labels" metadata`},
		{"duplicate label", "", w, []float32{0, 0, 0}, `["A","B","A"]`, `label "A" appears twice (rows 0 and 2)`},
	} {
		path := write(c.prefix, c.weight, c.bias, c.labels)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.wanted) {
			t.Errorf("%s: Load = %v, want an error naming %s and containing %q", c.name, err, path, c.wanted)
		}
	}
	// PyTorch nn.Linear and NeuroX LinearProbe state dicts have no label
	// names.
	for _, prefix := range []string{"", "linear."} {
		p, err := Load(write(prefix, w, []float32{0, 0, 0}, ""))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p.Labels, []string{"0", "1", "2"}) {
			t.Fatalf("state dict %q labels %q", prefix, p.Labels)
		}
	}
}

func TestScoreAndControl(t *testing.T) {
	labels := []string{"A", "B", "C"}
	gold := []int32{0, 0, 1, 2, dataset.Unknown, 1}
	pred := []int32{0, 1, 1, 2, 0, 0}
	m, err := Score(labels, gold, pred, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3 of 6 right; majority label A is right on 2 of 6.
	if m.Accuracy != 0.5 || m.Majority != 2.0/6 || m.Unseen != 1 {
		t.Fatalf("%+v", m)
	}
	// A: tp 1, gold 2, pred 3 → R .5 P 1/3 F1 .4; B: tp 1, gold 2, pred 2 → .5;
	// C: 1, 1, 1 → 1. Macro-F1 = (0.4 + 0.5 + 1)/3.
	if math.Abs(m.MacroF1-(0.4+0.5+1)/3) > 1e-12 {
		t.Fatalf("macro-F1 %v", m.MacroF1)
	}
	// Named, the Unknown row's label enters the macro-F1 with F1 0 and is
	// listed last; a name without rows does not.
	m, err = Score(labels, gold, pred, 0, []string{"D", "E"}, []int{1, 0})
	if err != nil || math.Abs(m.MacroF1-(0.4+0.5+1)/4) > 1e-12 || len(m.PerLabel) != 4 || m.PerLabel[3] != (LabelScore{Label: "D", Count: 1}) {
		t.Fatalf("with the unseen label named: %+v, %v", m, err)
	}
	// Unseen names without counts, a gold id outside the labels: errors.
	if _, err := Score(labels, gold, pred, 0, []string{"D"}, nil); err == nil || !strings.Contains(err.Error(), "1 unseen labels, 0 counts") {
		t.Errorf("unseen names without counts: %v", err)
	}
	if _, err := Score(labels, []int32{0, 7}, []int32{0, 1}, 0, nil, nil); err == nil || !strings.Contains(err.Error(), "gold label 7 of row 1 outside [0, 3)") {
		t.Errorf("gold id 7 of 3 labels: %v", err)
	}
	// Control task: each type keeps one label, and the labels follow the
	// training distribution.
	train := &dataset.Dataset{Labels: labels, Y: make([]int32, 3000), Tokens: make([]string, 3000)}
	for i := range train.Y {
		train.Y[i] = int32(i % 3)
		train.Tokens[i] = fmt.Sprintf("w%d", i%500)
	}
	c := NewControlTask(train, 1)
	train.UnseenLabels = []string{"Z"} // as if Join had met a label outside the set
	ct, err := c.Relabel(train)
	if err != nil {
		t.Fatal(err)
	}
	if ct.UnseenLabels != nil || len(ct.UnseenCounts()) != 0 {
		t.Fatalf("control labels keep the task's unseen labels %q", ct.UnseenLabels)
	}
	byType := map[string]int32{}
	for i, w := range ct.Tokens {
		if l, ok := byType[w]; ok && l != ct.Y[i] {
			t.Fatalf("type %q has two control labels", w)
		}
		byType[w] = ct.Y[i]
	}
	counts := make([]int, 3)
	for _, l := range byType {
		counts[l]++
	}
	for l, n := range counts {
		if n < 120 || n > 215 {
			t.Fatalf("label %d drawn for %d of 500 types, want about a third", l, n)
		}
	}
	if _, err := c.Relabel(&dataset.Dataset{Y: []int32{0}}); err == nil {
		t.Fatal("relabel without tokens accepted")
	}
}

// TestFastModeStepFloorOnSmallData: on 2,000 training rows (15 batches an
// epoch) fast mode's rounds grow to reach MinSteps, dev accuracy is checked
// only at round ends, and the probe reaches at least the held-out accuracy
// of the NeuroX protocol (which it missed by 12 points when it stopped
// after 6 epochs, ≈ 90 steps); a floor of 1 keeps one epoch per round.
func TestFastModeStepFloorOnSmallData(t *testing.T) {
	tc := synthetic.DefaultTeacher()
	tc.Rows, tc.Neurons = 4000, 32
	all := synthetic.Teacher(tc)
	train, err := all.Subset([]dataset.Span{{Start: 0, End: 2000}})
	if err != nil {
		t.Fatal(err)
	}
	test, err := all.Subset([]dataset.Span{{Start: 2000, End: 4000}})
	if err != nil {
		t.Fatal(err)
	}
	b := cpu.New()
	maj := MajorityOf(train.Y, len(train.Labels))
	accuracy := func(cfg Config) (float64, *Log) {
		t.Helper()
		p, log, err := Train(b, train, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Evaluate(b, p, test, maj)
		if err != nil {
			t.Fatal(err)
		}
		return m.Accuracy, log
	}
	neurox, _ := accuracy(DefaultConfig(ModeNeuroX))
	cfg := DefaultConfig(ModeFast)
	fast, log := accuracy(cfg)
	// 1,900 training rows after the dev split: 15 batches, 6 epochs = 90
	// steps, so rounds of ⌈1000/90⌉ = 12 epochs.
	const perRound = 12
	if len(log.Epochs)%perRound != 0 || log.BestEpoch%perRound != 0 {
		t.Fatalf("ran %d epochs, kept %d: want whole rounds of %d", len(log.Epochs), log.BestEpoch, perRound)
	}
	for _, e := range log.Epochs {
		if checked := e.DevAccuracy != nil; checked != (e.Epoch%perRound == 0) {
			t.Fatalf("epoch %d: dev accuracy checked (%t) off a round end", e.Epoch, checked)
		}
	}
	if len(log.Epochs) == 6*perRound && log.Steps < cfg.MinSteps {
		t.Fatalf("full run took %d steps < floor %d", log.Steps, cfg.MinSteps)
	}
	if fast < neurox {
		t.Fatalf("fast mode held-out accuracy %.4f < NeuroX protocol's %.4f", fast, neurox)
	}
	cfg.MinSteps = 1
	old, oldLog := accuracy(cfg)
	if len(oldLog.Epochs) > 6 || oldLog.Steps > 90 {
		t.Fatalf("floor 1: %d epochs, %d steps; want at most 6 epochs of 15 steps", len(oldLog.Epochs), oldLog.Steps)
	}
	t.Logf("held-out accuracy: fast %.4f (%d epochs, %d steps), fast without floor %.4f, neurox %.4f", fast, len(log.Epochs), log.Steps, old, neurox)
	if old >= fast {
		t.Fatalf("without the floor %.4f ≥ with it %.4f: the floor buys nothing here", old, fast)
	}
	// 399 rows would hold out 19 (< MinDevRows): no early stopping, every
	// round trained and the last kept; 400 hold out 20 and stop early; 401
	// with seed 3 would hold out the last, 1-row block: none.
	for _, c := range []struct {
		rows    int
		seed    uint64
		stopped bool
	}{{399, 1, false}, {400, 1, true}, {401, 3, false}} {
		small, err := train.Subset([]dataset.Span{{Start: 0, End: c.rows}})
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig(ModeFast)
		cfg.Seed = c.seed
		_, log, err := Train(b, small, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		checked := slices.ContainsFunc(log.Epochs, func(e Epoch) bool { return e.DevAccuracy != nil })
		if checked != c.stopped || !checked && log.BestEpoch != len(log.Epochs) {
			t.Fatalf("%d rows, seed %d: dev accuracy checked %t, kept epoch %d of %d", c.rows, c.seed, checked, log.BestEpoch, len(log.Epochs))
		}
	}
}

// TestDevicePathsMatchHost trains on the CPU seen as a device
// (enginetest.Hostless: the training rows uploaded, resident through
// engine.UploadRows from fast mode's row-span view, or streamed in chunks
// under a small memory budget) and on the CPU in place: same weights, bit
// for bit, in both modes, and Log.Staging is recorded.
func TestDevicePathsMatchHost(t *testing.T) {
	d, _, err := synthetic.Dataset(3000, 5, synthetic.DefaultConfig(40))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{ModeFast, ModeNeuroX} {
		for _, budget := range []int64{2 << 30, 40 * 32 * 4 * 7} {
			cfg := DefaultConfig(mode)
			cfg.MemoryBudget = budget
			cfg.Epochs = 3
			want, _, err := Train(cpu.New(), d, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			dev := enginetest.Hostless(cpu.New())
			got, log, err := Train(dev, d, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Weight, want.Weight) || !slices.Equal(got.Bias, want.Bias) {
				t.Errorf("%s mode, budget %d bytes: weights differ between the device and host paths", mode, budget)
			}
			if dev.Uploaded < 4*int64(len(d.Y))*40*9/10 || log.Staging <= 0 {
				t.Errorf("%s mode, budget %d bytes: %d bytes uploaded, staging %v", mode, budget, dev.Uploaded, log.Staging)
			}
		}
	}
}
