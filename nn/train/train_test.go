package train

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
	"github.com/grainlab/grain/engine/safetensors"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/internal/nntest"
	"github.com/grainlab/grain/nn/model"
)

// TestTinyModelsOverfit trains each model on 20 real sentences until it
// has memorised them, within seconds. The NMT's loss goes to ~0; the NLM's
// cannot fall below the entropy of its first words (20 sentences start
// with a few words like "two" and "a"), so its bound is looser.
func TestTinyModelsOverfit(t *testing.T) {
	for _, kind := range []string{model.NLM, model.NMT} {
		t.Run(kind, func(t *testing.T) {
			m, ex := nntest.Setup(t, kind, 20, 48, 0)
			start := time.Now()
			tr, err := New(m, Data{Train: ex, Val: ex}, Options{Batch: 10, LR: 0.02, Clip: 5, Epochs: 60, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			s, err := tr.Run()
			if err != nil {
				t.Fatal(err)
			}
			first, last := s.History[0], s.History[len(s.History)-1]
			t.Logf("%s: val loss %.3f → %.3f in %d epochs, %v", kind, first.ValLoss, last.ValLoss, len(s.History), time.Since(start).Round(time.Millisecond))
			bound := map[string]float64{model.NLM: 0.3, model.NMT: 0.05}[kind]
			if last.ValLoss > bound {
				t.Fatalf("%s did not overfit 20 sentences: loss %.3f after %d epochs", kind, last.ValLoss, len(s.History))
			}
		})
	}
}

// TestResumeContinuesTheSameRun interrupts a run in the middle of an epoch
// and resumes it in a new Trainer on a freshly initialised model: the end
// result is bit-identical to the uninterrupted run. The interrupted and
// resumed runs also run on the device path (enginetest.Hostless), where
// the weights and Adam's moments live on the device between checkpoints;
// there the resuming model has run before, so its device weights must be
// replaced by the checkpoint's.
func TestResumeContinuesTheSameRun(t *testing.T) {
	for _, kind := range []string{model.NLM, model.NMT} {
		for _, device := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/device=%v", kind, device), func(t *testing.T) {
				testResume(t, kind, device)
			})
		}
	}
}

func testResume(t *testing.T, kind string, device bool) {
	opts := func(dir string) Options {
		return Options{Batch: 4, LR: 0.01, Clip: 1, Epochs: 2, Seed: 5, Decay: 0.5, Dir: dir, CheckpointEvery: 2}
	}
	m, ex := nntest.Setup(t, kind, 24, 16, 0.3)
	data := Data{Train: ex[:20], Val: ex[20:]}
	whole, err := New(m, data, opts(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := whole.Run()
	if err != nil {
		t.Fatal(err)
	}
	setup := func() *model.Model {
		m, _ := nntest.Setup(t, kind, 24, 16, 0.3)
		if device {
			if err := m.SetBackend(enginetest.Hostless(cpu.New())); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}

	dir := t.TempDir()
	m2 := setup()
	o := opts(dir)
	steps := 0
	o.Interrupt = func() bool { steps++; return steps == 3 }
	first, err := New(m2, data, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Run(); err != ErrInterrupted {
		t.Fatalf("interrupted run returned %v", err)
	}
	m3 := setup()
	if _, err := Evaluate(m3, data.Val, batch.Plan{Size: 4, Bounds: batch.DefaultBounds}, nil); err != nil {
		t.Fatal(err)
	}
	second, err := New(m3, data, opts(dir))
	if err != nil {
		t.Fatal(err)
	}
	if second.State.Steps != 3 || second.State.Batch != 3 {
		t.Fatalf("resumed at step %d batch %d, want 3 and 3", second.State.Steps, second.State.Batch)
	}
	got, err := second.Run()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params {
		if !slices.Equal(p.Data(), m3.Params[i].Data()) {
			t.Fatalf("parameter %s differs after resuming", p.Name)
		}
	}
	for i := range want.History {
		a, b := want.History[i], got.History[i]
		if a.TrainLoss != b.TrainLoss || a.ValLoss != b.ValLoss || a.LR != b.LR {
			t.Fatalf("epoch %d: resumed %+v, uninterrupted %+v", i+1, b, a)
		}
	}
}

func TestCheckpointErrors(t *testing.T) {
	m, ex := nntest.Setup(t, model.NLM, 12, 8, 0)
	dir := t.TempDir()
	o := Options{Batch: 4, LR: 0.01, Epochs: 1, Seed: 1, Dir: dir}
	tr, err := New(m, Data{Train: ex[:8], Val: ex[8:]}, o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.Run()
	if err != nil {
		t.Fatal(err)
	}
	// Other options.
	o2 := o
	o2.LR = 0.5
	if _, err := New(m, Data{Train: ex[:8], Val: ex[8:]}, o2); err == nil || !strings.Contains(err.Error(), "other training options") {
		t.Fatalf("changed options: %v", err)
	}
	// A model of another shape.
	other, _ := nntest.Setup(t, model.NLM, 12, 10, 0)
	if _, err := New(other, Data{Train: ex[:8], Val: ex[8:]}, o); err == nil || !strings.Contains(err.Error(), "model config") {
		t.Fatalf("other model: %v", err)
	}
	// A corrupt model file.
	path := filepath.Join(dir, s.ModelFile)
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o644)
	if _, err := New(m, Data{Train: ex[:8], Val: ex[8:]}, o); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("corrupt model file: %v", err)
	}
}

// TestOptionsRejectBadFloats checks that NaN, ±Inf and out-of-range
// learning rate, clip and decay are errors naming the option, before
// anything runs.
func TestOptionsRejectBadFloats(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"lr NaN", func(o *Options) { o.LR = nan }, "learning rate NaN"},
		{"lr +Inf", func(o *Options) { o.LR = inf }, "learning rate +Inf"},
		{"lr 0", func(o *Options) { o.LR = 0 }, "learning rate 0"},
		{"clip NaN", func(o *Options) { o.Clip = nan }, "clip NaN"},
		{"clip +Inf", func(o *Options) { o.Clip = inf }, "clip +Inf"},
		{"clip -1", func(o *Options) { o.Clip = -1 }, "clip -1"},
		{"decay NaN", func(o *Options) { o.Decay = nan }, "decay NaN"},
		{"decay -Inf", func(o *Options) { o.Decay = -inf }, "decay -Inf"},
		{"decay 1.5", func(o *Options) { o.Decay = 1.5 }, "decay 1.5"},
	} {
		o := Options{Batch: 4, LR: 0.01, Clip: 1, Epochs: 1, Decay: 0.5}
		c.set(&o)
		if _, err := New(nil, Data{}, o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// trainOneEpoch trains a small model of kind for one epoch on 8 examples
// (4 for validation), checkpointing into a new directory (o.Dir), and
// returns the model, data, options and final state.
func trainOneEpoch(t *testing.T, kind string) (*model.Model, Data, Options, *State) {
	t.Helper()
	m, ex := nntest.Setup(t, kind, 12, 8, 0)
	data := Data{Train: ex[:8], Val: ex[8:]}
	o := Options{Batch: 4, LR: 0.01, Epochs: 1, Seed: 1, Dir: t.TempDir()}
	tr, err := New(m, data, o)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.Run()
	if err != nil {
		t.Fatal(err)
	}
	return m, data, o, s
}

// TestCheckpointStateIntegrity corrupts state.safetensors: one flipped byte
// of tensor data, or a moment set to NaN, fails the checksum; a NaN or
// negative second moment whose checksum was recomputed (written by a buggy
// writer) fails the finiteness check; a state without a checksum (written
// before it existed) still resumes. Every error names the state file.
func TestCheckpointStateIntegrity(t *testing.T) {
	m, data, o, s := trainOneEpoch(t, model.NLM)
	statePath := filepath.Join(o.Dir, "state.safetensors")
	orig, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := safetensors.Unmarshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	if sf.Metadata[MetaStateCRC] != stateChecksum(sf) {
		t.Fatalf("checkpoint checksum %q, want %q", sf.Metadata[MetaStateCRC], stateChecksum(sf))
	}
	resume := func(what string, file []byte, want ...string) {
		t.Helper()
		if err := os.WriteFile(statePath, file, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(m, data, o)
		if len(want) == 0 {
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("%s: resumed", what)
		}
		for _, w := range append(want, statePath) {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: error %q does not contain %q", what, err, w)
			}
		}
	}
	// rewrite returns the state file with element 0 of tensor name set to
	// v, its checksum recomputed or (without fix) left as it was.
	rewrite := func(name string, v float32, fix bool) []byte {
		f, err := safetensors.Unmarshal(slices.Clone(orig))
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(f.Tensor(name).Data, math.Float32bits(v))
		if fix {
			f.Metadata[MetaStateCRC] = stateChecksum(f)
		}
		b, err := safetensors.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	m0, v0 := "adam.m/"+m.Params[0].Name, "adam.v/"+m.Params[0].Name

	flipped := slices.Clone(orig)
	header := int(binary.LittleEndian.Uint64(flipped))
	flipped[8+header+(len(flipped)-8-header)/2] ^= 0x04
	resume("flipped byte", flipped, "checksum", "corrupt")
	resume("NaN moment", rewrite(m0, float32(math.NaN()), false), "checksum", "corrupt")
	resume("NaN moment, checksum recomputed", rewrite(m0, float32(math.NaN()), true), "optimizer tensor "+m0+" element 0 is NaN")
	resume("-Inf second moment", rewrite(v0, float32(math.Inf(-1)), true), "optimizer tensor "+v0+" element 0 is -Inf")
	resume("negative second moment", rewrite(v0, -1, true), "optimizer tensor "+v0+" element 0 is -1")

	old, err := safetensors.Unmarshal(slices.Clone(orig))
	if err != nil {
		t.Fatal(err)
	}
	delete(old.Metadata, MetaStateCRC)
	b, err := safetensors.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	resume("state without a checksum", b)
	resume("intact state", orig)
	again, err := New(m, data, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.State.Steps != s.Steps {
		t.Fatalf("intact state resumed at step %d, want %d", again.State.Steps, s.Steps)
	}
}

// TestResumeRefusesOtherData checks the data fingerprint of checkpoints:
// resuming on other training or validation data (for the NMT, on either
// side) fails with an error wrapping ErrDataChanged that names the state
// file and each side that differs, and only those; resuming on the same
// examples held in other memory succeeds; a state without a fingerprint
// (written before grain recorded one) resumes unchecked, and the resumed
// run's checkpoint records the fingerprint, so a later resumption on
// other data is refused.
func TestResumeRefusesOtherData(t *testing.T) {
	// clone deep-copies examples, so that nothing is shared with the data
	// the checkpoint was made with.
	clone := func(ex []batch.Example) []batch.Example {
		out := make([]batch.Example, len(ex))
		for i, e := range ex {
			out[i] = batch.Example{Src: slices.Clone(e.Src), Tgt: slices.Clone(e.Tgt)}
		}
		return out
	}
	for _, kind := range []string{model.NLM, model.NMT} {
		t.Run(kind, func(t *testing.T) {
			m, data, o, s := trainOneEpoch(t, kind)
			statePath := filepath.Join(o.Dir, "state.safetensors")
			if s.Data == nil || s.Data.TrainTgt.Examples != 8 || s.Data.ValTgt.Examples != 4 || (s.Data.TrainSrc != nil) != (kind == model.NMT) {
				t.Fatalf("state records the data fingerprint %+v", s.Data)
			}
			refused := func(what string, d Data, want ...string) {
				t.Helper()
				_, err := New(m, d, o)
				if err == nil {
					t.Fatalf("%s: resumed", what)
				}
				if !errors.Is(err, ErrDataChanged) {
					t.Fatalf("%s: error %q does not wrap ErrDataChanged", what, err)
				}
				for _, w := range append(want, statePath, "another checkpoint directory") {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("%s: error %q does not contain %q", what, err, w)
					}
				}
				if n := strings.Count(err.Error(), " differs ("); n != len(want) {
					t.Fatalf("%s: error %q names %d differing sides, want %d (%q)", what, err, n, len(want), want)
				}
			}
			reversed := clone(data.Train)
			slices.Reverse(reversed)
			fewer := clone(data.Val)[1:]
			if kind == model.NLM {
				refused("reversed training text", Data{Train: reversed, Val: data.Val}, "the training text differs")
				refused("one validation sentence fewer", Data{Train: data.Train, Val: fewer},
					"the validation text differs (checkpoint: 4 examples, sha256 "+s.Data.ValTgt.SHA256[:12]+"…; this run: 3 examples")
			} else {
				refused("reversed training pairs", Data{Train: reversed, Val: data.Val}, "the training source differs", "the training target differs")
				// One source token changed: only the training source differs.
				src := clone(data.Train)
				src[2].Src[0] = src[3].Src[1]
				if slices.Equal(src[2].Src, data.Train[2].Src) {
					t.Fatal("the changed source sentence is the same")
				}
				refused("one source token changed", Data{Train: src, Val: data.Val}, "the training source differs")
				refused("one validation pair fewer", Data{Train: data.Train, Val: fewer}, "the validation source differs", "the validation target differs")
			}
			same, err := New(m, Data{Train: clone(data.Train), Val: clone(data.Val)}, o)
			if err != nil {
				t.Fatalf("same data in other memory: %v", err)
			}
			if same.State.Steps != s.Steps || !reflect.DeepEqual(same.State.Data, s.Data) {
				t.Fatalf("same data resumed at step %d with %+v, want step %d with %+v", same.State.Steps, same.State.Data, s.Steps, s.Data)
			}

			// A state without a fingerprint resumes, even on other data...
			sf, err := safetensors.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			if err := json.Unmarshal([]byte(sf.Metadata[MetaState]), &st); err != nil {
				t.Fatal(err)
			}
			if _, ok := st["data"]; !ok {
				t.Fatalf("state JSON has no \"data\": %s", sf.Metadata[MetaState])
			}
			delete(st, "data")
			old, _ := json.Marshal(st)
			sf.Metadata[MetaState] = string(old)
			sf.Metadata[MetaStateCRC] = stateChecksum(sf)
			if err := safetensors.WriteFile(statePath, sf); err != nil {
				t.Fatal(err)
			}
			var log strings.Builder
			o2 := o
			o2.Epochs, o2.Log = 2, &log
			other := Data{Train: reversed, Val: data.Val}
			resumed, err := New(m, other, o2)
			if err != nil {
				t.Fatalf("state without a fingerprint: %v", err)
			}
			if !strings.Contains(log.String(), "records no data fingerprint") || resumed.State.Steps != s.Steps {
				t.Fatalf("state without a fingerprint resumed at step %d, log %q", resumed.State.Steps, log.String())
			}
			// ...and the resumed run's checkpoints record its data.
			if _, err := resumed.Run(); err != nil {
				t.Fatal(err)
			}
			if kind == model.NLM {
				refused("the original data after resuming on other data", data, "the training text differs")
			} else {
				refused("the original data after resuming on other data", data, "the training source differs", "the training target differs")
			}
		})
	}
}
