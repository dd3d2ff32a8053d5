//go:build grain_cuda

package cuda_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/decode"
	"github.com/grainlab/grain/nn/extract"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/train"
	"github.com/grainlab/grain/nn/vocab"
)

// copyTask returns n random source sentences of 3–8 ids over a vocabulary
// of words ordinary words and, for an NMT, targets that reverse them.
func copyTask(r *rand.Rand, kind string, n, words int) []batch.Example {
	ex := make([]batch.Example, n)
	for i := range ex {
		s := make([]int32, 3+r.IntN(6))
		for j := range s {
			s[j] = int32(len(vocab.Specials) + r.IntN(words))
		}
		if kind == model.NMT {
			tgt := slices.Clone(s)
			slices.Reverse(tgt)
			ex[i] = batch.Example{Src: s, Tgt: tgt}
		} else {
			ex[i] = batch.Example{Tgt: s}
		}
	}
	return ex
}

func wordsVocab(t *testing.T, n int) *vocab.Vocab {
	w := slices.Clone(vocab.Specials)
	for i := range n {
		w = append(w, fmt.Sprintf("w%d", i))
	}
	v, err := vocab.New(w)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGPUModels runs grain's models on the GPU: a small NMT (bidirectional
// first encoder layer, attention decoder) and NLM are trained on the CPU
// on a toy task, saved, and loaded once on each backend; then the loss
// (≤ 1e-4 relative), the stored activations (≤ 1e-4 absolute), the
// translations (greedy and beam 3: identical, or different only where the
// CPU model scores the two choices within 1e-4: a tie that rounding may
// break either way) must agree between CUDA and the CPU, unmasked and with
// neurons masked; after two more epochs of training with dropout, each
// parameter tensor's CUDA−CPU difference must be at most 1% of how far
// training moved it (‖Δ‖₂ ≤ 0.01·‖after − before‖₂ on the CPU); and doing
// the same work again must not allocate more device memory.
//
// Why relative to the update: Adam divides each gradient coordinate by its
// own running RMS, so a coordinate whose gradient is near ε (1e-8) turns a
// rounding-level difference into a step-sized one. On the CPU alone, moving
// every starting parameter by one ULP moves the parameters after these six
// steps by up to 5.4e-5 (NMT) and 2.7e-5 (NLM) absolute, 4.5e-5 and 9.7e-6
// of the update's norm; the H100 differed by up to 3.8e-4 absolute
// (2026-11-27). A wrong gradient or another dropout stream differs by the
// update's size (a different dropout seed: 1.46 and 1.61 of it).
func TestGPUModels(t *testing.T) {
	g := device(t)
	for _, kind := range []string{model.NMT, model.NLM} {
		t.Run(kind, func(t *testing.T) {
			const words = 12
			r := rand.New(rand.NewPCG(9, 1))
			ex := copyTask(r, kind, 24, words)
			cfg := model.Config{Kind: kind, Embed: 16, Hidden: 24, Layers: 2, Dropout: 0.1, TgtVocab: words + len(vocab.Specials),
				InitSeed: 2, InitScale: 0.1}
			var src *vocab.Vocab
			if kind == model.NMT {
				cfg.EncLayers, cfg.BiLayers, cfg.SrcVocab = 2, 1, cfg.TgtVocab
				src = wordsVocab(t, words)
			}
			m, err := model.New(cfg, src, wordsVocab(t, words))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetBackend(cpu.New()); err != nil {
				t.Fatal(err)
			}
			opts := train.Options{Batch: 8, LR: 0.02, Clip: 5, Epochs: 25, Seed: 3}
			tr, err := train.New(m, train.Data{Train: ex, Val: ex}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Run(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.safetensors")
			if err := m.Save(path, model.F32); err != nil {
				t.Fatal(err)
			}
			var ms [2]*model.Model
			for i, b := range []engine.Backend{cpu.New(), g} {
				if ms[i], err = model.Load(path); err != nil {
					t.Fatal(err)
				}
				if err := ms[i].SetBackend(b); err != nil {
					t.Fatal(err)
				}
			}
			if !ms[1].Env().OnDevice() {
				t.Fatal("the model on CUDA does not run on the device path")
			}
			compareModels(t, ms, ex)
			// Evaluating, extracting and decoding again reuses the device
			// memory of the first time.
			buffers, bytes := g.Allocated()
			compareModels(t, ms, ex)
			if b2, by2 := g.Allocated(); b2 != buffers || by2 != bytes {
				t.Fatalf("device memory grew from %d buffers (%d bytes) to %d (%d) running the same work again", buffers, bytes, b2, by2)
			}
			// Mask a tenth of the stored neurons on both.
			n := ms[0].Masks.StoredNeurons()
			masked := r.Perm(n)[:n/10]
			for _, mm := range ms {
				if err := mm.Masks.Zero(masked); err != nil {
					t.Fatal(err)
				}
			}
			compareModels(t, ms, ex)
			for _, mm := range ms {
				mm.Masks.Reset()
			}
			// Two more runs of one epoch of training (dropout on) on each
			// backend; the second reuses the device memory of the first
			// (the trainer releases Adam's device copies when it ends).
			before := make([][]float32, len(ms[0].Params))
			for i, p := range ms[0].Params {
				before[i] = slices.Clone(p.Data())
			}
			opts.Epochs = 1
			for run := range 2 {
				for _, mm := range ms {
					tr, err := train.New(mm, train.Data{Train: ex, Val: ex}, opts)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := tr.Run(); err != nil {
						t.Fatal(err)
					}
				}
				b2, by2 := g.Allocated()
				if run == 1 && (b2 != buffers || by2 != bytes) {
					t.Errorf("device memory grew from %d buffers (%d bytes) to %d (%d) training again", buffers, bytes, b2, by2)
				}
				buffers, bytes = b2, by2
			}
			var worst, worstAbs float64
			for i, p := range ms[0].Params {
				cpuAfter, cudaAfter := p.Data(), ms[1].Params[i].Data()
				diff, moved := distance(cpuAfter, cudaAfter), distance(cpuAfter, before[i])
				if !(diff <= 0.01*moved) {
					t.Errorf("parameter %s after two epochs of training: CPU and CUDA differ by %.3g (2-norm), %.3g of the update's %.3g",
						p.Name, diff, diff/moved, moved)
				}
				worst, worstAbs = max(worst, diff/moved), max(worstAbs, maxAbsDiff(cpuAfter, cudaAfter))
			}
			t.Logf("parameters after two epochs of training: CPU and CUDA differ by at most %.3g of the update (2-norm per tensor), %.3g absolute", worst, worstAbs)
		})
	}
}

// compareModels checks that the CPU model ms[0] and the CUDA model ms[1]
// compute the same loss, activations and translations on ex.
func compareModels(t *testing.T, ms [2]*model.Model, ex []batch.Example) {
	t.Helper()
	var evals [2]train.Eval
	var acts [2][][]float32
	var outs [2][][][]int32
	var sents [][]int32
	for _, e := range ex {
		if e.Src != nil {
			sents = append(sents, e.Src)
		} else {
			sents = append(sents, e.Tgt)
		}
	}
	for i, m := range ms {
		var err error
		if evals[i], err = train.Evaluate(m, ex, batch.Plan{Size: 8, Bounds: batch.DefaultBounds}, nil); err != nil {
			t.Fatal(err)
		}
		if acts[i], err = extract.Activations(m, sents, 8); err != nil {
			t.Fatal(err)
		}
		if m.Config.Kind != model.NMT {
			continue
		}
		for _, beam := range []int{1, 3} {
			out, err := decode.Translate(m, sents, decode.Options{Beam: beam, Alpha: 1, Batch: 8, MaxLenA: 2, MaxLenB: 5})
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = append(outs[i], out)
		}
	}
	if d := math.Abs(evals[0].LossSum-evals[1].LossSum) / math.Abs(evals[0].LossSum); d > 1e-4 || evals[0].Tokens != evals[1].Tokens {
		t.Errorf("loss: CPU %v, CUDA %v (relative difference %.2g)", evals[0], evals[1], d)
	}
	t.Logf("loss per token %.5f (CPU) %.5f (CUDA)", evals[0].Loss(), evals[1].Loss())
	for s := range acts[0] {
		if d := maxAbsDiff(acts[0][s], acts[1][s]); d > 1e-4 {
			t.Errorf("sentence %d: activations differ by %.3g", s, d)
		}
	}
	for k := range outs[0] {
		same := 0
		for s := range outs[0][k] {
			a, b := outs[0][k][s], outs[1][k][s]
			if slices.Equal(a, b) {
				same++
				continue
			}
			// Float rounding may break a tie either way: accept a
			// difference only where the CPU model scores the two choices
			// within 1e-4 of each other.
			if why := tieBetween(t, ms[0], sents[s], a, b, 1e-4); why != "" {
				t.Logf("search %d, sentence %d: CPU %v, CUDA %v: %s", k, s, a, b, why)
				same++
			}
		}
		if same != len(sents) {
			t.Errorf("search %d: %d of %d translations equal on CPU and CUDA (or tied)", k, same, len(sents))
		}
	}
	if len(outs[0]) > 0 { // the tie check itself: one token more is no tie, unless any gap is
		a := outs[0][0][0]
		b := append(slices.Clone(a), a[0])
		if why := tieBetween(t, ms[0], sents[0], a, b, 0); why != "" {
			t.Errorf("tieBetween(%v, %v, 0): %s", a, b, why)
		}
		if why := tieBetween(t, ms[0], sents[0], a, b, math.Inf(1)); why == "" {
			t.Errorf("tieBetween(%v, %v, +Inf): no tie", a, b)
		}
	}
}

// tieBetween scores two translations a and b of src with the CPU model m
// (teacher-forced through a decode Stepper) and says why they tie within
// tol, or returns "" if they do not: the two tokens where they first
// differ are that close after their common prefix (where greedy search
// picks), or the two whole translations, </s> included and normalised by
// their length, are (where beam search picks).
func tieBetween(t *testing.T, m *model.Model, src, a, b []int32, tol float64) string {
	t.Helper()
	logProbs := func(out []int32) (steps [][]float32) {
		ex := []batch.Example{{Src: src, Tgt: []int32{vocab.EOS}}}
		spec := batch.Plan{Size: 1, Bounds: batch.CoveringBounds(len(src))}.Epoch(ex, 0, 0, false)[0]
		st, err := m.Encode(batch.Make(ex, spec), 1)
		if err != nil {
			t.Fatal(err)
		}
		prev := vocab.BOS
		for i := 0; i <= len(out); i++ {
			lp := make([]float32, st.Vocab())
			if err := st.Step([]int32{prev}); err != nil {
				t.Fatal(err)
			}
			if err := st.LogProbs(lp); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, lp)
			if i < len(out) {
				prev = out[i]
			}
		}
		return steps
	}
	token := func(out []int32, i int) int32 { // </s> after the last token
		if i < len(out) {
			return out[i]
		}
		return vocab.EOS
	}
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	la, lb := logProbs(a), logProbs(b)
	if d := math.Abs(float64(la[p][token(a, p)] - la[p][token(b, p)])); d <= tol {
		return fmt.Sprintf("tokens %d and %d at step %d differ by %.2g in log-probability", token(a, p), token(b, p), p, d)
	}
	score := func(out []int32, lps [][]float32) float64 {
		var sum float64
		for i := range lps {
			sum += float64(lps[i][token(out, i)])
		}
		return sum / float64(len(lps))
	}
	if d := math.Abs(score(a, la) - score(b, lb)); d <= tol {
		return fmt.Sprintf("normalised scores differ by %.2g", d)
	}
	return ""
}

// distance is ‖a − b‖₂ (+Inf when the lengths differ).
func distance(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}
