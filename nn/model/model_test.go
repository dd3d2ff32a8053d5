package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/vocab"
)

func tinyVocab(n int) *vocab.Vocab {
	words := slices.Clone(vocab.Specials)
	for i := range n {
		words = append(words, fmt.Sprintf("w%d", i))
	}
	v, _ := vocab.New(words)
	return v
}

// tiny returns a small model of the given kind on the CPU backend.
func tiny(t testing.TB, kind string, dropout float64) *Model {
	t.Helper()
	cfg := Config{Kind: kind, Embed: 5, Hidden: 6, Layers: 2, Dropout: dropout, TgtVocab: 14, InitSeed: 3, InitScale: 0.3}
	var src *vocab.Vocab
	if kind == NMT {
		cfg.EncLayers, cfg.BiLayers, cfg.SrcVocab = 2, 1, 12
		src = tinyVocab(8)
	}
	m, err := New(cfg, src, tinyVocab(10))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetBackend(cpu.New()); err != nil {
		t.Fatal(err)
	}
	return m
}

// tinyBatch is a batch of 3 rows (one of them filler) with padding.
func tinyBatch(kind string) *batch.Batch {
	ex := []batch.Example{{Src: []int32{4, 5, 6, 7}, Tgt: []int32{4, 5, 9}}, {Src: []int32{8, 4}, Tgt: []int32{13, 12, 11, 10, 4}}}
	if kind == NLM {
		for i := range ex {
			ex[i].Src = nil
		}
	}
	s := 0
	if kind == NMT {
		s = 5
	}
	return batch.Make(ex, batch.Spec{Rows: []int{0, -1, 1}, Shape: batch.Shape{Size: 3, S: s, T: 7}})
}

// stored is g.Stored, failing the test on an error.
func stored(t *testing.T, g *Graph) [][]float32 {
	t.Helper()
	s, err := g.Stored()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func run(t *testing.T, m *Model, b *batch.Batch, mode Mode, seed uint64) (Result, *Graph) {
	t.Helper()
	g, res, err := m.Run(b, mode, seed)
	if err != nil {
		t.Fatal(err)
	}
	return res, g
}

// TestDevicePathRuns runs every mode of both models on the CPU and on the
// CPU seen as a device backend (enginetest.Hostless, where op outputs stay
// on the device until read): the losses, the stored activations (after a
// Train run too: its backward pass only reads them) and the gradients must
// be bit-identical.
func TestDevicePathRuns(t *testing.T) {
	for _, kind := range []string{NLM, NMT} {
		ms := [2]*Model{tiny(t, kind, 0.2), tiny(t, kind, 0.2)}
		if err := ms[1].SetBackend(enginetest.Hostless(cpu.New())); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []Mode{Features, Eval, Train} {
			var res [2]Result
			var stored [2][][]float32
			var grads [2][][]float32
			for i, m := range ms {
				b := tinyBatch(kind)
				if mode == Features && kind == NMT {
					b.Shape.T = 0
				}
				var g *Graph
				res[i], g = run(t, m, b, mode, 5)
				var err error
				if stored[i], err = g.Stored(); err != nil {
					t.Fatal(err)
				}
				if mode == Train {
					for _, v := range g.Grads() {
						grads[i] = append(grads[i], slices.Clone(m.Env().Host(v)))
					}
				}
			}
			if res[0] != res[1] {
				t.Fatalf("%s %s: loss %+v on the host path, %+v on the device path", kind, mode, res[0], res[1])
			}
			for l := range stored[0] {
				if !slices.Equal(stored[0][l], stored[1][l]) {
					t.Fatalf("%s %s: stored layer %d differs between the host and device paths", kind, mode, l)
				}
			}
			for p := range grads[0] {
				if !slices.Equal(grads[0][p], grads[1][p]) {
					t.Fatalf("%s: the gradient of %s differs between the host and device paths", kind, ms[0].Params[p].Name)
				}
			}
			if len(stored[0]) == 0 || (mode == Train && len(grads[0]) != len(ms[0].Params)) {
				t.Fatalf("%s %s: %d stored layers, %d gradients", kind, mode, len(stored[0]), len(grads[0]))
			}
		}
	}
}

// TestGradientsMatchFiniteDifferences checks, for both models at tiny
// sizes, the gradient of the summed loss with respect to sampled weights
// of every parameter against central differences of the float64-summed
// loss (h = 1e-2 on float32 weights).
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, kind := range []string{NLM, NMT} {
		t.Run(kind, func(t *testing.T) {
			m := tiny(t, kind, 0)
			b := tinyBatch(kind)
			res, g := run(t, m, b, Train, 0)
			grads := g.Grads()
			r := rand.New(rand.NewPCG(1, 1))
			const h = 1e-2
			for pi, p := range m.Params {
				an := slices.Clone(m.Env().Host(grads[pi]))
				var scale float64
				for _, v := range an {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				if scale == 0 {
					t.Errorf("%s: gradient is all zero: the check would test nothing", p.Name)
				}
				// The largest gradient and five random ones.
				largest := 0
				for i, v := range an {
					if math.Abs(float64(v)) > math.Abs(float64(an[largest])) {
						largest = i
					}
				}
				for k := range 6 {
					i := largest
					if k > 0 {
						i = r.IntN(len(an))
					}
					d := p.Data()
					old := d[i]
					d[i] = old + h
					up, _ := run(t, m, b, Eval, 0)
					d[i] = old - h
					down, _ := run(t, m, b, Eval, 0)
					d[i] = old
					fd := (up.LossSum - down.LossSum) / (2 * h) / float64(res.Tokens)
					if diff := math.Abs(fd - float64(an[i])); diff > 2e-3*scale+2e-5 {
						t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g (|Δ| %.2g, scale %.2g)", p.Name, i, an[i], fd, diff, scale)
					}
				}
			}
		})
	}
}

// TestMaskedNeuronIsZeroAndMatters checks every masked neuron of every
// stored layer is exactly 0 at every step, that masking changes the loss,
// that an all-ones mask is bit-identical to no masking, and that changing a
// mask needs no rebuild.
func TestMaskedNeuronIsZeroAndMatters(t *testing.T) {
	for _, kind := range []string{NLM, NMT} {
		t.Run(kind, func(t *testing.T) {
			m := tiny(t, kind, 0)
			b := tinyBatch(kind)
			base, _ := run(t, m, b, Eval, 0)
			feat := b.Shape
			if kind == NMT {
				feat.T = 0
			}
			_, fg := run(t, m, b, Features, 0)
			before := stored(t, fg)
			// Mask one neuron in every layer of the global index.
			var masked []int
			for _, l := range m.Masks.Layers() {
				masked = append(masked, l.Offset+1)
			}
			if err := m.Masks.Zero(masked); err != nil {
				t.Fatal(err)
			}
			after, _ := run(t, m, b, Eval, 0)
			if after.LossSum == base.LossSum {
				t.Fatalf("masking %v did not change the loss %v", masked, base.LossSum)
			}
			_, fg = run(t, m, b, Features, 0)
			for li, layer := range stored(t, fg) {
				h := m.Config.Hidden
				for row := 0; row < len(layer)/h; row++ {
					if v := layer[row*h+1]; v != 0 {
						t.Fatalf("stored layer %d row %d: masked neuron 1 = %g", li, row, v)
					}
				}
				if slices.Equal(layer, before[li]) {
					t.Fatalf("stored layer %d unchanged by masking", li)
				}
			}
			if got := m.Masks.Masked(); !slices.Equal(got, masked) {
				t.Fatalf("Masked() = %v, want %v", got, masked)
			}
			m.Masks.Reset()
			again, _ := run(t, m, b, Eval, 0)
			if again.LossSum != base.LossSum {
				t.Fatalf("all-ones mask: loss %v, unmasked %v (must be bit-identical)", again.LossSum, base.LossSum)
			}
			_, fg = run(t, m, b, Features, 0)
			for li, layer := range stored(t, fg) {
				if !slices.Equal(layer, before[li]) {
					t.Fatalf("stored layer %d differs after unmasking", li)
				}
			}
		})
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, kind := range []string{NLM, NMT} {
		t.Run(kind, func(t *testing.T) {
			m := tiny(t, kind, 0.2)
			b := tinyBatch(kind)
			want, _ := run(t, m, b, Eval, 0)
			path := filepath.Join(t.TempDir(), "m.safetensors")
			if err := m.Save(path, F32); err != nil {
				t.Fatal(err)
			}
			l, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.SetBackend(cpu.New()); err != nil {
				t.Fatal(err)
			}
			got, _ := run(t, l, b, Eval, 0)
			if got != want || l.Config != m.Config || l.Tgt.String() != m.Tgt.String() {
				t.Fatalf("after save and load: %+v, want %+v", got, want)
			}
		})
	}
}

func TestSelectNeuronsFromRanking(t *testing.T) {
	m := tiny(t, NMT, 0)
	n := m.Masks.StoredNeurons() // 3 stored layers × 6
	ord := make([]int, n)
	for i := range ord {
		ord[i] = (i * 7) % n
	}
	f := &ranking.File{Version: ranking.FormatVersion, Method: "test", NumNeurons: n, Ordering: ord}
	top, err := m.Masks.SelectNeurons(f, ranking.PickTop, 50, 0)
	if err != nil || !slices.Equal(top, slices.Sorted(slices.Values(ord[:n/2]))) {
		t.Fatalf("top 50%%: %v, %v", top, err)
	}
	bottom, err := m.Masks.SelectNeurons(f, ranking.PickBottom, 50, 0)
	if err != nil || !slices.Equal(bottom, slices.Sorted(slices.Values(ord[n/2:]))) {
		t.Fatalf("bottom 50%%: %v, %v", bottom, err)
	}
	if r, err := m.Masks.SelectNeurons(f, ranking.PickRandom, 100, 5); err != nil || len(r) != n {
		t.Fatalf("random 100%%: %d neurons, %v", len(r), err)
	}
	f.NumNeurons = n + 1
	if _, err := m.Masks.SelectNeurons(f, ranking.PickTop, 10, 0); err == nil {
		t.Fatal("a ranking of another model's neurons was accepted")
	}
	// A ranking of one layer (Columns 6–11, local ordering) picks that
	// layer's neurons by global index, percentages of its 6.
	layer := &ranking.File{Version: ranking.FormatVersion, Method: "test", NumNeurons: 6,
		Columns: []int{6, 7, 8, 9, 10, 11}, Ordering: []int{4, 0, 5, 1, 3, 2}}
	if got, err := m.Masks.SelectNeurons(layer, ranking.PickTop, 50, 0); err != nil || !slices.Equal(got, []int{6, 10, 11}) {
		t.Fatalf("top 50%% of a layer's ranking: %v, %v (want global 6, 10, 11)", got, err)
	}
	if got, err := m.Masks.SelectNeurons(layer, ranking.PickRandom, 50, 3); err != nil || len(got) != 3 || got[0] < 6 || got[2] > 11 {
		t.Fatalf("random 50%% of a layer's ranking: %v, %v", got, err)
	}
	layer.Columns = []int{n - 3, n - 2, n - 1, n, n + 1, n + 2} // beyond the stored neurons: another model's
	if _, err := m.Masks.SelectNeurons(layer, ranking.PickTop, 50, 0); err == nil || !strings.Contains(err.Error(), "stores") {
		t.Fatalf("a ranking of columns beyond the model's stored neurons: %v", err)
	}
	// Masking the top half zeroes exactly those stored neurons.
	if err := m.Masks.Zero(top); err != nil {
		t.Fatal(err)
	}
	got := m.Masks.Masked()
	want := slices.Sorted(slices.Values(top))
	if !slices.Equal(got, want) {
		t.Fatalf("masked %v, want %v", got, want)
	}
}

// TestValidateRejectsBadFloats checks that NaN, ±Inf and out-of-range
// dropout and init_scale are errors naming the field (a NaN dropout used to
// reach the dropout kernel and panic there, a NaN init_scale to surface as
// a NaN gradient norm).
func TestValidateRejectsBadFloats(t *testing.T) {
	ok := Config{Kind: NLM, Embed: 5, Hidden: 6, Layers: 2, TgtVocab: 14, InitScale: 0.3, Dropout: 0.3}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.1, 1, 1.5} {
		c := ok
		c.Dropout = d
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "dropout") {
			t.Errorf("dropout %v: %v", d, err)
		}
	}
	for _, s := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, -1, 1e39} {
		c := ok
		c.InitScale = s
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "init_scale") {
			t.Errorf("init_scale %v: %v", s, err)
		}
	}
}
