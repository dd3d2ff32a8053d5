package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/grainlab/grain/engine/atomicfile"
	"github.com/grainlab/grain/engine/safetensors"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/model"
)

// Metadata keys of state.safetensors: the training state (State as JSON),
// and its checksum "crc32c:xxxxxxxx", the CRC32C (Castagnoli) of the
// MetaState string followed by the data of every tensor in name order.
// A checkpoint written before the checksum existed has no MetaStateCRC and
// is read without the check.
const (
	MetaState    = "grain.train_state"
	MetaStateCRC = "grain.train_state_crc32c"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateChecksum computes the MetaStateCRC value of f.
func stateChecksum(f *safetensors.File) string {
	order := make([]*safetensors.Tensor, len(f.Tensors))
	for i := range f.Tensors {
		order[i] = &f.Tensors[i]
	}
	slices.SortFunc(order, func(a, b *safetensors.Tensor) int { return strings.Compare(a.Name, b.Name) })
	crc := crc32.Checksum([]byte(f.Metadata[MetaState]), castagnoli)
	for _, t := range order {
		crc = crc32.Update(crc, castagnoli, t.Data)
	}
	return fmt.Sprintf("crc32c:%08x", crc)
}

// Fingerprint identifies one side (sources or targets) of a set of
// examples as the trainer consumes it: the number of examples and the
// SHA-256 of their token ids, each example contributing its length and then
// its ids, all as little-endian uint32, in order. It is a function of the
// token ids only, so the same text read from another file (or path) has
// the same fingerprint, and so does text that differs only in words the
// vocabulary maps to the same id (unknown words, which the trainer cannot
// tell apart either).
type Fingerprint struct {
	Examples int    `json:"examples"`
	SHA256   string `json:"sha256"`
}

// DataFingerprint identifies the data of a run, side by side: checkpoints
// record it and New refuses to resume on data with another one. The source
// sides are nil when the examples have no sources (a language model).
type DataFingerprint struct {
	TrainSrc *Fingerprint `json:"train_src,omitempty"`
	TrainTgt Fingerprint  `json:"train_tgt"`
	ValSrc   *Fingerprint `json:"val_src,omitempty"`
	ValTgt   Fingerprint  `json:"val_tgt"`
}

// fingerprint computes the Fingerprint of one side of examples.
func fingerprint(examples []batch.Example, side func(batch.Example) []int32) Fingerprint {
	h := sha256.New()
	var buf []byte
	for _, e := range examples {
		ids := side(e)
		buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(len(ids)))
		for _, id := range ids {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(id))
		}
		h.Write(buf)
	}
	return Fingerprint{Examples: len(examples), SHA256: hex.EncodeToString(h.Sum(nil))}
}

// Fingerprints returns the DataFingerprint of d; its source sides are set
// when any example of d has a source.
func (d Data) Fingerprints() DataFingerprint {
	src := func(e batch.Example) []int32 { return e.Src }
	tgt := func(e batch.Example) []int32 { return e.Tgt }
	f := DataFingerprint{TrainTgt: fingerprint(d.Train, tgt), ValTgt: fingerprint(d.Val, tgt)}
	hasSrc := func(e batch.Example) bool { return e.Src != nil }
	if slices.ContainsFunc(d.Train, hasSrc) || slices.ContainsFunc(d.Val, hasSrc) {
		ts, vs := fingerprint(d.Train, src), fingerprint(d.Val, src)
		f.TrainSrc, f.ValSrc = &ts, &vs
	}
	return f
}

// differences describes each side of f (a checkpoint's) that differs from
// now (this run's), naming it "training source", "validation target", or
// for data without sources "training text" and "validation text".
func (f DataFingerprint) differences(now DataFingerprint) []string {
	withSrc := f.TrainSrc != nil || now.TrainSrc != nil
	var out []string
	side := func(name string, a, b *Fingerprint) {
		if a != nil && b != nil && *a == *b {
			return
		}
		desc := func(p *Fingerprint) string {
			if p == nil {
				return "none"
			}
			return fmt.Sprintf("%d examples, sha256 %.12s…", p.Examples, p.SHA256)
		}
		out = append(out, fmt.Sprintf("the %s differs (checkpoint: %s; this run: %s)", name, desc(a), desc(b)))
	}
	if withSrc {
		side("training source", f.TrainSrc, now.TrainSrc)
		side("training target", &f.TrainTgt, &now.TrainTgt)
		side("validation source", f.ValSrc, now.ValSrc)
		side("validation target", &f.ValTgt, &now.ValTgt)
	} else {
		side("training text", &f.TrainTgt, &now.TrainTgt)
		side("validation text", &f.ValTgt, &now.ValTgt)
	}
	return out
}

// ErrDataChanged is wrapped by New's error when Options.Dir holds a
// checkpoint made with other training or validation data (its
// DataFingerprint differs from the data given to New); the message names
// each side that differs.
var ErrDataChanged = errors.New("made with other data")

func (t *Trainer) path(name string) string { return filepath.Join(t.o.Dir, name) }

// checkpoint writes the model, then the state naming it, then removes the
// previous model file.
func (t *Trainer) checkpoint() error {
	if t.o.Dir == "" {
		return nil
	}
	if err := t.adam.SyncMoments(); err != nil {
		return err
	}
	f, err := t.m.File(model.F32)
	if err != nil {
		return err
	}
	data, err := safetensors.Marshal(f)
	if err != nil {
		return err
	}
	s := &t.State
	old := s.ModelFile
	name := fmt.Sprintf("model-%d.safetensors", s.Steps)
	if err := atomicfile.WriteFile(t.path(name), data); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	sum := sha256.Sum256(data)
	s.ModelFile, s.ModelSHA256 = name, hex.EncodeToString(sum[:])
	sj, err := json.Marshal(s)
	if err != nil {
		return err
	}
	st := &safetensors.File{Metadata: map[string]string{MetaState: string(sj)}}
	for i, p := range t.m.Params {
		if t.adam.M == nil {
			break
		}
		shape := []int{p.Rows, p.Cols}
		st.Tensors = append(st.Tensors, safetensors.NewF32("adam.m/"+p.Name, shape, t.adam.M[i]), safetensors.NewF32("adam.v/"+p.Name, shape, t.adam.V[i]))
	}
	st.Metadata[MetaStateCRC] = stateChecksum(st)
	if err := safetensors.WriteFile(t.path("state.safetensors"), st); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	if old != "" && old != name {
		if err := os.Remove(t.path(old)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("train: checkpoint: %w", err)
		}
	}
	return nil
}

// resume restores the run from t.o.Dir if it holds a checkpoint.
func (t *Trainer) resume() error {
	statePath := t.path("state.safetensors")
	if _, err := os.Stat(statePath); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	sf, err := safetensors.ReadFile(statePath)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("train: checkpoint %s: %s", statePath, fmt.Sprintf(format, args...))
	}
	sj, ok := sf.Metadata[MetaState]
	if !ok {
		return bad("no %q metadata", MetaState)
	}
	if want, ok := sf.Metadata[MetaStateCRC]; ok {
		if got := stateChecksum(sf); got != want {
			return bad("state and optimizer tensors do not match the file's checksum (stored %s, computed %s): the file is corrupt", want, got)
		}
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader([]byte(sj)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return bad("state: %v", err)
	}
	if a, b := runOptions(s.Options), runOptions(t.o); a != b {
		return bad("made with other training options:\n  checkpoint %s\n  this run   %s", a, b)
	}
	modelPath := t.path(s.ModelFile)
	data, err := os.ReadFile(modelPath)
	if err != nil {
		return bad("its model file: %v", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != s.ModelSHA256 {
		return bad("model file %s does not match the SHA-256 in the state (corrupt or replaced)", s.ModelFile)
	}
	mf, err := safetensors.Unmarshal(data)
	if err != nil {
		return bad("model file %s: %v", s.ModelFile, err)
	}
	saved, err := model.FromFile(mf)
	if err != nil {
		return bad("model file %s: %v", s.ModelFile, err)
	}
	if saved.Config != t.m.Config {
		return bad("its model config %+v differs from this run's %+v", saved.Config, t.m.Config)
	}
	if saved.Tgt.String() != t.m.Tgt.String() || (saved.Src != nil && saved.Src.String() != t.m.Src.String()) {
		return bad("its vocabularies differ from this run's (different data or cut-off?)")
	}
	// The data are compared after the vocabularies: with equal vocabularies
	// equal token ids mean equal text (up to unknown words).
	now := t.State.Data
	if s.Data == nil {
		// A checkpoint from before data fingerprints: resume unchecked, and
		// record this run's data so that later resumptions are checked.
		t.logf("checkpoint %s records no data fingerprint (written by an older grain): resuming without checking the data is the same", statePath)
	} else if diff := s.Data.differences(*now); len(diff) > 0 {
		return fmt.Errorf("train: checkpoint %s: %w: %s; resume with the data it was made with, or train on this data in another checkpoint directory",
			statePath, ErrDataChanged, strings.Join(diff, " and "))
	}
	s.Data = now
	for i, p := range t.m.Params {
		copy(p.Data(), saved.Params[i].Data())
	}
	if err := t.m.WeightsChanged(); err != nil {
		return err
	}
	if s.Steps > 0 {
		for _, p := range t.m.Params {
			for _, k := range []string{"adam.m/", "adam.v/"} {
				tt := sf.Tensor(k + p.Name)
				if tt == nil || tt.NumElements() != p.Rows*p.Cols {
					return bad("optimizer tensor %s%s is missing or misshapen", k, p.Name)
				}
				v, err := tt.Float32()
				if err != nil {
					return bad("%v", err)
				}
				if i := slices.IndexFunc(v, func(x float32) bool {
					return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) || (k == "adam.v/" && x < 0)
				}); i >= 0 {
					return bad("optimizer tensor %s%s element %d is %v (moments must be finite, second moments ≥ 0)", k, p.Name, i, v[i])
				}
				if k == "adam.m/" {
					t.adam.M = append(t.adam.M, v)
				} else {
					t.adam.V = append(t.adam.V, v)
				}
			}
		}
		t.adam.Steps = s.Steps
	}
	s.Options.Epochs, s.Options.Patience = t.o.Epochs, t.o.Patience
	if s.Done && s.Epoch < t.o.Epochs && t.o.Patience > s.Bad {
		s.Done = false
	}
	t.State = s
	t.logf("resuming from %s: epoch %d, batch %d, step %d", t.o.Dir, s.Epoch+1, s.Batch, s.Steps)
	return nil
}

// runOptions is the part of the options that must not change on resume.
func runOptions(o Options) string {
	o.Epochs, o.Patience = 0, 0
	b, _ := json.Marshal(o)
	return string(b)
}
