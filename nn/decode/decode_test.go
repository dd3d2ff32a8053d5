package decode

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/bleu"
	"github.com/grainlab/grain/nn/internal/nntest"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/models"
	"github.com/grainlab/grain/nn/train"
	"github.com/grainlab/grain/nn/vocab"
)

// TestMemorisedSentencesTranslatePerfectly overfits a tiny NMT on 20 real
// sentence pairs; greedy and beam search must then reproduce the targets
// (BLEU 100), in batches with filler rows and mixed lengths.
func TestMemorisedSentencesTranslatePerfectly(t *testing.T) {
	m, ex := nntest.Setup(t, model.NMT, 20, 48, 0)
	tr, err := train.New(m, train.Data{Train: ex, Val: ex}, train.Options{Batch: 10, LR: 0.02, Clip: 5, Epochs: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tr.Run()
	if err != nil {
		t.Fatal(err)
	}
	if loss := st.History[len(st.History)-1].ValLoss; loss > 0.01 {
		t.Fatalf("the model did not memorise its 20 pairs: loss %.3g", loss)
	}
	var src [][]int32
	var refs []string
	for _, e := range ex {
		src = append(src, e.Src)
		refs = append(refs, strings.Join(m.Tgt.Decode(e.Tgt), " "))
	}
	for _, bad := range []Options{
		{Beam: 0, Batch: 8}, {Beam: 1, Batch: 0}, {Beam: 1, Batch: 8, Alpha: math.NaN()},
		{Beam: 1, Batch: 8, Alpha: math.Inf(1)}, {Beam: 1, Batch: 8, MaxLenA: -1}, {Beam: 1, Batch: 8, MaxLenB: -2},
	} {
		if _, err := Translate(m, src, bad); err == nil || !strings.Contains(err.Error(), "decode:") {
			t.Errorf("options %+v: error %v", bad, err)
		}
	}
	// A length limit of no token is refused; one of 2 tokens is kept.
	if _, err := Translate(m, src, Options{Beam: 2, Batch: 8}); err == nil || !strings.Contains(err.Error(), "no output token") {
		t.Errorf("MaxLen 0: error %v", err)
	}
	for _, beam := range []int{1, 3} {
		out, err := Translate(m, src, Options{Beam: beam, Batch: 8, MaxLenB: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range out {
			if len(o) > 2 {
				t.Fatalf("beam %d, MaxLen 2: sentence %d has %d tokens", beam, i, len(o))
			}
		}
	}
	for _, beam := range []int{1, 4} {
		out, err := Translate(m, src, Options{Beam: beam, Alpha: 1, Batch: 8, MaxLenA: 2, MaxLenB: 10})
		if err != nil {
			t.Fatal(err)
		}
		hyps := make([]string, len(out))
		for i, o := range out {
			hyps[i] = strings.Join(m.Tgt.Decode(o), " ")
		}
		s, err := bleu.Corpus(hyps, refs)
		if err != nil {
			t.Fatal(err)
		}
		if s.BLEU < 99.99 {
			for i := range hyps {
				if hyps[i] != refs[i] {
					t.Logf("sentence %d: %q, want %q", i, hyps[i], refs[i])
				}
			}
			t.Fatalf("beam %d: %v", beam, s)
		}
	}
}

// TestStepperMatchesTrainingGraph feeds reference targets through the
// step-by-step decoder (teacher forcing) and checks that the summed
// log-probability of the references equals the Eval graph's loss on them:
// decoding runs the same model that training differentiates.
func TestStepperMatchesTrainingGraph(t *testing.T) {
	m, ex := nntest.Setup(t, model.NMT, 40, 16, 0)
	if err := m.Masks.Zero([]int{1, 20, 40}); err != nil {
		t.Fatal(err)
	}
	// Three pairs whose sources share a length bucket, so one batch holds
	// them all.
	plan := batch.Plan{Size: 3, Bounds: batch.DefaultBounds}
	var sel []batch.Example
	for _, e := range ex {
		if b, _ := plan.Bucket(len(e.Src)); b == 12 && len(sel) < 3 {
			sel = append(sel, e)
		}
	}
	if len(sel) != 3 {
		t.Fatalf("%d pairs with sources of 11–12 tokens, want 3", len(sel))
	}
	want, err := train.Evaluate(m, sel, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := plan.Epoch(sel, 0, 0, false)[0]
	b := batch.Make(sel, spec)
	st, err := m.Encode(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	v := st.Vocab()
	logp := make([]float32, 3*v)
	var got float64
	for step := 0; step < spec.Shape.T; step++ {
		prev := make([]int32, 3)
		for r := range prev {
			prev[r] = b.TgtIn[step*3+r]
		}
		if err := st.Step(prev); err != nil {
			t.Fatal(err)
		}
		if err := st.LogProbs(logp); err != nil {
			t.Fatal(err)
		}
		for r := range 3 {
			if y := b.TgtOut[step*3+r]; y >= 0 {
				got -= float64(logp[r*v+int(y)])
			}
		}
	}
	if d := got - want.LossSum; d > 1e-4*want.LossSum || d < -1e-4*want.LossSum {
		t.Fatalf("stepper loss %.6f, training graph %.6f", got, want.LossSum)
	}
	// After a Reorder (here to two rows) the last step's rows are gone.
	if err := st.Reorder([]int32{2, 0}); err != nil {
		t.Fatal(err)
	}
	if err := st.LogProbs(logp[:2*v]); err == nil {
		t.Fatal("LogProbs after a Reorder without a Step: no error")
	}
	if err := st.Reorder([]int32{0, 2}); err == nil {
		t.Fatal("Reorder to row 2 of 2: no error")
	}
}

// TestDeviceMemoryPathMatchesHost trains and decodes with two copies of a
// tiny NMT: one on the CPU backend, one on the same backend seen as a
// device backend (enginetest.Hostless: no host memory, so the fused ops
// keep their buffers, the weights and Adam's moments on the "device", as
// on CUDA). The parameters after training and the translations, unmasked
// and masked, must be bit-identical; repeating training or decoding must
// not grow the device memory, and the traffic must stay what the host
// needs: the weights are uploaded once, not per batch.
func TestDeviceMemoryPathMatchesHost(t *testing.T) {
	var models [2]*model.Model
	var ex []batch.Example
	dev := enginetest.Hostless(cpu.New())
	for i := range models {
		models[i], ex = nntest.Setup(t, model.NMT, 20, 24, 0.1)
		if i == 1 {
			if err := models[i].SetBackend(dev); err != nil {
				t.Fatal(err)
			}
		}
		// Two runs: 1 epoch, then 2 more; on the device path the second
		// must not grow the arena (device copies are reused, not leaked).
		var arena int64
		for _, epochs := range []int{1, 2} {
			up := dev.Uploaded
			tr, err := train.New(models[i], train.Data{Train: ex, Val: ex}, train.Options{Batch: 8, LR: 0.02, Clip: 1, Epochs: epochs, Seed: 4})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Run(); err != nil {
				t.Fatal(err)
			}
			if got := models[i].Env().ArenaBytes(); epochs == 2 && got != arena {
				t.Fatalf("backend %d: arena grew from %d to %d bytes in the second run", i, arena, got)
			}
			arena = models[i].Env().ArenaBytes()
			// 6 steps and 2 validations: the new Adam's moments are
			// uploaded once, the weights not at all.
			if weights := 4 * int64(models[i].NumParams()); i == 1 && epochs == 2 && dev.Uploaded-up > 3*weights {
				t.Fatalf("training 2 epochs uploaded %d bytes, weights %d bytes", dev.Uploaded-up, weights)
			}
		}
	}
	if !models[1].Env().OnDevice() || models[0].Env().OnDevice() {
		t.Fatal("the Hostless backend did not select the device path")
	}
	for i, p := range models[0].Params {
		if !slices.Equal(p.Data(), models[1].Params[i].Data()) {
			t.Fatalf("parameter %s differs between the host and device paths", p.Name)
		}
	}
	var src [][]int32
	for _, e := range ex {
		src = append(src, e.Src)
	}
	// Beam 3 twice: the second decoding must not grow the arena nor upload
	// the weights. Then with 30 neurons masked: the changed masks must
	// reach the device.
	for k, beam := range []int{1, 3, 3, 3} {
		var outs [2][][]int32
		for i, m := range models {
			if k == 3 {
				if err := m.Masks.Zero(seq(0, 3, 90)); err != nil {
					t.Fatal(err)
				}
			}
			before, up := m.Env().ArenaBytes(), dev.Uploaded
			out, err := Translate(m, src, Options{Beam: beam, Alpha: 1, Batch: 8, MaxLenA: 2, MaxLenB: 10})
			if err != nil {
				t.Fatal(err)
			}
			if after := m.Env().ArenaBytes(); k >= 2 && after != before {
				t.Fatalf("backend %d: arena grew from %d to %d bytes decoding again", i, before, after)
			}
			if weights := 4 * int64(m.NumParams()); i == 1 && k >= 2 && 4*(dev.Uploaded-up) > weights {
				t.Fatalf("decoding again uploaded %d bytes, weights %d bytes", dev.Uploaded-up, weights)
			}
			outs[i] = out
		}
		for j := range outs[0] {
			if !slices.Equal(outs[0][j], outs[1][j]) {
				t.Fatalf("beam %d (pass %d), sentence %d: host %v, device path %v", beam, k, j, outs[0][j], outs[1][j])
			}
		}
	}
}

// seq returns from, from+step, … below to.
func seq(from, step, to int) []int {
	var s []int
	for i := from; i < to; i += step {
		s = append(s, i)
	}
	return s
}

// TestBatchingDoesNotChangeTranslations decodes 48 test_2016_flickr
// sentences with the shipped en→de model one at a time and in batches of
// 16 (mixed lengths, and the search drops finished sentences from a batch
// as it goes): greedy and beam 4 must give the same translations either
// way, and real ones (non-empty).
func TestBatchingDoesNotChangeTranslations(t *testing.T) {
	path, err := models.Path("nmt-en-de-s1")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetBackend(cpu.New()); err != nil {
		t.Fatal(err)
	}
	dir, err := corpus.SharedDataDir()
	if err != nil {
		t.Fatal(err)
	}
	en, err := vocab.ReadTokenized(filepath.Join(dir, "multi30k", "tok", "test_2016_flickr.lc.norm.tok.en"))
	if err != nil {
		t.Fatal(err)
	}
	var src [][]int32
	for _, s := range en[:48] {
		src = append(src, m.Src.Encode(s))
	}
	for _, beam := range []int{1, 4} {
		o := Options{Beam: beam, Alpha: 1, Batch: 16, MaxLenA: 2, MaxLenB: 10}
		batched, err := Translate(m, src, o)
		if err != nil {
			t.Fatal(err)
		}
		o.Batch = 1
		alone, err := Translate(m, src, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range src {
			if len(alone[i]) == 0 || !slices.Equal(alone[i], batched[i]) {
				t.Fatalf("beam %d, sentence %d: alone %q, in a batch %q", beam, i, m.Tgt.Decode(alone[i]), m.Tgt.Decode(batched[i]))
			}
		}
	}
}

// scarce is a device backend (enginetest.Hostless) whose memory runs out
// after left allocations.
type scarce struct {
	*enginetest.HostlessBackend
	left int
}

func (s *scarce) Alloc(rows, cols int, dt engine.DType) (*engine.Tensor, error) {
	if s.left <= 0 {
		return nil, errors.New("out of device memory (test)")
	}
	s.left--
	return s.HostlessBackend.Alloc(rows, cols, dt)
}

// TestDeviceOutOfMemoryIsAnError runs out of device memory at every one of
// the allocations of loading, evaluating, training and translating an NMT
// in turn: each is an error that says so, never a crash (the fused ops run
// on Gorgonia's own goroutine, where a panic would end the process).
func TestDeviceOutOfMemoryIsAnError(t *testing.T) {
	m, ex := nntest.Setup(t, model.NMT, 12, 16, 0.1)
	var src [][]int32
	for _, e := range ex {
		src = append(src, e.Src)
	}
	plan := batch.Plan{Size: 4, Bounds: batch.DefaultBounds}
	work := []struct {
		name string
		run  func() error
	}{
		{"evaluate", func() error { _, err := train.Evaluate(m, ex, plan, nil); return err }},
		{"translate", func() error {
			_, err := Translate(m, src, Options{Beam: 2, Alpha: 1, Batch: 4, MaxLenA: 2, MaxLenB: 5})
			return err
		}},
		{"train", func() error {
			tr, err := train.New(m, train.Data{Train: ex, Val: ex}, train.Options{Batch: 4, LR: 0.01, Epochs: 1, Seed: 1})
			if err != nil {
				return err
			}
			_, err = tr.Run()
			return err
		}},
	}
	for _, w := range work {
		failed := 0
		for left := 0; ; left++ {
			dev := &scarce{enginetest.Hostless(cpu.New()), left}
			err := m.SetBackend(dev)
			if err == nil {
				err = w.run()
			}
			if err == nil {
				break // enough memory: everything ran
			}
			if !strings.Contains(err.Error(), "out of device memory (test)") {
				t.Fatalf("%s with %d allocations: %v", w.name, left, err)
			}
			failed++
		}
		t.Logf("%s: %d budgets ran out of memory, each an error", w.name, failed)
		if failed < 3 {
			t.Fatalf("%s: only %d budgets ran out", w.name, failed)
		}
	}
}
