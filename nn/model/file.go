package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/grainlab/grain/engine/safetensors"
	"github.com/grainlab/grain/nn/vocab"
)

// Metadata keys of a model file.
const (
	MetaConfig   = "grain.config"
	MetaSrcVocab = "grain.vocab.src"
	MetaTgtVocab = "grain.vocab.tgt"
)

// Precision of the weights in a model file.
type Precision string

// Precisions.
const (
	F32 Precision = "f32" // exact
	F16 Precision = "f16" // IEEE half precision, rounded to nearest (shipped models)
)

// File returns the model as a safetensors file: every parameter (biases as
// vectors) in precision p, and the config and vocabularies as metadata.
// On a device backend it first brings the host weights up to date
// (SyncWeights).
func (m *Model) File(p Precision) (*safetensors.File, error) {
	if err := m.SyncWeights(); err != nil {
		return nil, err
	}
	f := &safetensors.File{Metadata: map[string]string{MetaConfig: m.Config.configJSON(), MetaTgtVocab: m.Tgt.String()}}
	if m.Src != nil {
		f.Metadata[MetaSrcVocab] = m.Src.String()
	}
	for _, prm := range m.Params {
		shape := []int{prm.Rows, prm.Cols}
		if prm.Rows == 1 {
			shape = []int{prm.Cols}
		}
		switch p {
		case F32:
			f.Tensors = append(f.Tensors, safetensors.NewF32(prm.Name, shape, prm.Data()))
		case F16:
			f.Tensors = append(f.Tensors, safetensors.NewF16(prm.Name, shape, prm.Data()))
		default:
			return nil, fmt.Errorf("model: unknown precision %q (want f32 or f16)", p)
		}
	}
	return f, nil
}

// Save writes the model to path atomically.
func (m *Model) Save(path string, p Precision) error {
	f, err := m.File(p)
	if err != nil {
		return err
	}
	return safetensors.WriteFile(path, f)
}

// Load reads a model file. Errors name the file and what is wrong: a
// missing or malformed config or vocabulary, a vocabulary whose size
// differs from the config, a missing, extra or misshapen tensor, or a
// non-finite weight.
func Load(path string) (*Model, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	m, err := FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	return m, nil
}

// FromFile makes a model from a safetensors file made by File.
func FromFile(f *safetensors.File) (*Model, error) {
	cj, ok := f.Metadata[MetaConfig]
	if !ok {
		return nil, fmt.Errorf("no %q metadata: not a grain model file", MetaConfig)
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader([]byte(cj)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", MetaConfig, err)
	}
	tgt, err := vocab.Parse(f.Metadata[MetaTgtVocab], "metadata "+MetaTgtVocab)
	if err != nil {
		return nil, err
	}
	var src *vocab.Vocab
	if cfg.Kind == NMT {
		if src, err = vocab.Parse(f.Metadata[MetaSrcVocab], "metadata "+MetaSrcVocab); err != nil {
			return nil, err
		}
	}
	m, err := newModel(cfg, src, tgt)
	if err != nil {
		return nil, err
	}
	if len(f.Tensors) != len(m.Params) {
		return nil, fmt.Errorf("%d tensors, the config needs %d (%v)", len(f.Tensors), len(m.Params), m.ParamNames())
	}
	for _, p := range m.Params {
		t := f.Tensor(p.Name)
		if t == nil {
			return nil, fmt.Errorf("tensor %q is missing", p.Name)
		}
		if n := t.NumElements(); n != p.Rows*p.Cols || len(t.Shape) > 2 || (len(t.Shape) == 2 && t.Shape[0] != p.Rows) {
			return nil, fmt.Errorf("tensor %q has shape %v, the config needs %d×%d", p.Name, t.Shape, p.Rows, p.Cols)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("tensor %q element %d is %v", p.Name, i, x)
			}
		}
		copy(p.Data(), v)
	}
	return m, nil
}
