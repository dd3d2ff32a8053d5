package train

import (
	"bytes"
	"crypto/sha256"
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
