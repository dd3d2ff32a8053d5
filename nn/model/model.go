// Package model defines grain's two models once, as Gorgonia graphs of the
// fused ops of package nn/fused, and saves and loads them.
//
// # NLM
//
// A language model over one vocabulary V with E-dimensional embeddings and
// L LSTM layers of H units:
//
//	x_t = embed(w_{t−1})∘m_embed            (w_{−1} = <s>)
//	h⁰ = LSTM_0(drop(x)), hˡ = LSTM_l(drop(hˡ⁻¹))
//	p(w_t | w_<t) = softmax(W_out·drop(h^{L−1}_t) + b_out)
//
// trained on sentences w_0 … w_{n−1} </s> with the mean cross-entropy per
// token; perplexity is exp of the mean over a corpus.
//
// # NMT
//
// A sequence-to-sequence model with attention (Luong, Pham & Manning 2015:
// global attention with the "general" score and input feeding):
//
//	encoder:  s = embed_src(x)∘m_src, then EncLayers LSTM layers, the first
//	          BiLayers of them bidirectional (forward and backward outputs
//	          concatenated), dropout between layers; the top layer's output
//	          is the memory m̄ (Dm = 2H if the top layer is bidirectional,
//	          else H)
//	decoder:  Layers LSTM layers over embed_tgt(y_{t−1})∘m_tgt and the
//	          previous attentional state (input feeding), score(h, m̄) =
//	          hᵀ·W_a·m̄ over the source's real tokens, h̃ = tanh(W_cc·ctx +
//	          W_ch·h)∘m_att (fused.Decoder), zero initial states
//	output:   p(y_t | y_<t, x) = softmax(W_out·drop(h̃_t) + b_out)
//
// The forward pass that evaluation, decoding, extraction and ablation use is
// the same graph definition (build) that training differentiates, without
// dropout.
//
// # Parameters (tensor names in model files)
//
// Matrices are row-major; LSTM gate blocks are [i f g o] as in PyTorch;
// biases are stored as vectors.
//
//	NLM:  embed.weight (V×E)
//	      lstm.{l}.w_ih (4H×in), lstm.{l}.w_hh (4H×H), lstm.{l}.bias (4H)
//	      out.weight (V×H), out.bias (V)
//	NMT:  src_embed.weight (Vs×E), tgt_embed.weight (Vt×E)
//	      enc.{l}.{fwd,bwd}.w_ih / .w_hh / .bias   (bwd only for l < BiLayers)
//	      dec.0.w_ie (4H×E), dec.0.w_if (4H×H), dec.{l}.w_ih (4H×H, l ≥ 1),
//	      dec.{l}.w_hh (4H×H), dec.{l}.bias (4H)
//	      attn.w_a (H×Dm), attn.w_cc (H×Dm), attn.w_ch (H×H)
//	      out.weight (Vt×H), out.bias (Vt)
//
// A model file is a safetensors file holding these tensors (F32, or F16
// for shipped models) and three metadata strings: "grain.config" (the
// Config as JSON), "grain.vocab.src" (NMT only) and "grain.vocab.tgt"
// (vocabulary files: one word per line, id order).
//
// # Neurons and masks
//
// Every hidden layer takes a 0/1 neuron mask (see Masks); neurons are
// numbered by one global index g over the layers listed by NeuronLayers.
// Its first layers are exactly the layers that extraction stores (all of
// H neurons, so g = layer·H + d as in the activation store), the others
// follow:
//
//	NLM:  lstm0 … lstm{L−1} (forward), then embed (E)
//	NMT:  enc0/forward, enc0/backward (for l < BiLayers), enc1/forward, …;
//	      then src_embed (E), tgt_embed (E), dec0 … dec{L−1}, attention (H)
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/grainlab/grain/nn/fused"
	"github.com/grainlab/grain/nn/vocab"
	"gorgonia.org/tensor"
)

// Kinds of model.
const (
	NLM = "nlm"
	NMT = "nmt"
)

// Config is a model's architecture, stored as JSON in its file.
type Config struct {
	// Kind is NLM or NMT.
	Kind string `json:"kind"`
	// Embed is E, the embedding size; Hidden is H, every LSTM layer's
	// size.
	Embed  int `json:"embed"`
	Hidden int `json:"hidden"`
	// Layers is the number of LSTM layers of the NLM or of the NMT decoder.
	Layers int `json:"layers"`
	// EncLayers (NMT) is the number of encoder layers; the first BiLayers
	// of them are bidirectional.
	EncLayers int `json:"enc_layers,omitempty"`
	BiLayers  int `json:"bi_layers,omitempty"`
	// Dropout is the dropout probability used in training.
	Dropout float64 `json:"dropout"`
	// SrcVocab and TgtVocab are the vocabulary sizes (SrcVocab 0 for an
	// NLM); they must match the stored vocabularies.
	SrcVocab int `json:"src_vocab,omitempty"`
	TgtVocab int `json:"tgt_vocab"`
	// InitSeed seeds the initial weights (uniform in ±InitScale).
	InitSeed  uint64  `json:"init_seed"`
	InitScale float64 `json:"init_scale"`
	// SrcLang and TgtLang name the training data's languages ("en", "de";
	// SrcLang empty for an NLM). Only defaults depend on them (the CLI's
	// evaluation data).
	SrcLang string `json:"src_lang,omitempty"`
	TgtLang string `json:"tgt_lang,omitempty"`
}

// Validate checks the configuration: kinds and sizes, dropout in [0, 1)
// and init_scale in (0, math.MaxFloat32] (NaN and ±Inf are errors naming
// the field).
func (c Config) Validate() error {
	switch {
	case c.Kind != NLM && c.Kind != NMT:
		return fmt.Errorf("kind %q (want %q or %q)", c.Kind, NLM, NMT)
	case c.Embed < 1 || c.Hidden < 1 || c.Layers < 1:
		return fmt.Errorf("embed %d, hidden %d and layers %d must be ≥ 1", c.Embed, c.Hidden, c.Layers)
	case !(c.Dropout >= 0 && c.Dropout < 1): // NaN too
		return fmt.Errorf("dropout %g outside [0, 1)", c.Dropout)
	case c.TgtVocab <= len(vocab.Specials):
		return fmt.Errorf("target vocabulary of %d words has nothing but the special tokens", c.TgtVocab)
	case !(c.InitScale > 0 && c.InitScale <= math.MaxFloat32): // NaN, ±Inf, or weights beyond float32
		return fmt.Errorf("init_scale %g outside (0, %g]", c.InitScale, math.MaxFloat32)
	}
	if c.Kind == NMT {
		switch {
		case c.EncLayers < 1:
			return fmt.Errorf("enc_layers %d < 1", c.EncLayers)
		case c.BiLayers < 0 || c.BiLayers > c.EncLayers:
			return fmt.Errorf("bi_layers %d outside [0, enc_layers = %d]", c.BiLayers, c.EncLayers)
		case c.SrcVocab <= len(vocab.Specials):
			return fmt.Errorf("source vocabulary of %d words has nothing but the special tokens", c.SrcVocab)
		}
	} else if c.EncLayers != 0 || c.BiLayers != 0 || c.SrcVocab != 0 {
		return errors.New("an NLM has no encoder: enc_layers, bi_layers and src_vocab must be 0")
	}
	return nil
}

// memDim is the width of the NMT encoder's output.
func (c Config) memDim() int {
	if c.BiLayers == c.EncLayers {
		return 2 * c.Hidden
	}
	return c.Hidden
}

// encDirs is the number of directions of encoder layer l.
func (c Config) encDirs(l int) int {
	if l < c.BiLayers {
		return 2
	}
	return 1
}

// Param is one named parameter. Value is shared by every graph of the
// model; training updates it in place. On a device backend the weights
// are resident on the device (fused.Env.Resident) and training updates
// them there: the host values are current after Model.SyncWeights (which
// Model.File and the end of a training run call), and code that writes
// them calls Model.WeightsChanged.
type Param struct {
	Name       string
	Rows, Cols int
	Value      *tensor.Dense
}

// Data is the parameter's host values.
func (p *Param) Data() []float32 { return p.Value.Data().([]float32) }

// Model is a model's configuration, vocabularies, parameters and neuron
// masks, and the graphs built for it (one per batch shape and mode).
type Model struct {
	Config   Config
	Src, Tgt *vocab.Vocab
	Params   []*Param
	Masks    *Masks
	byName   map[string]*Param
	graphs   map[graphKey]*Graph
	env      *fused.Env
}

// specs returns the parameters' names and shapes in canonical order.
func (c Config) specs() []Param {
	h, e := c.Hidden, c.Embed
	var ps []Param
	add := func(name string, rows, cols int) { ps = append(ps, Param{Name: name, Rows: rows, Cols: cols}) }
	lstm := func(prefix string, in int) {
		add(prefix+".w_ih", 4*h, in)
		add(prefix+".w_hh", 4*h, h)
		add(prefix+".bias", 1, 4*h)
	}
	switch c.Kind {
	case NLM:
		add("embed.weight", c.TgtVocab, e)
		for l := range c.Layers {
			in := h
			if l == 0 {
				in = e
			}
			lstm(fmt.Sprintf("lstm.%d", l), in)
		}
	case NMT:
		add("src_embed.weight", c.SrcVocab, e)
		add("tgt_embed.weight", c.TgtVocab, e)
		in := e
		for l := range c.EncLayers {
			lstm(fmt.Sprintf("enc.%d.fwd", l), in)
			if c.encDirs(l) == 2 {
				lstm(fmt.Sprintf("enc.%d.bwd", l), in)
			}
			in = c.encDirs(l) * h
		}
		for l := range c.Layers {
			if l == 0 {
				add("dec.0.w_ie", 4*h, e)
				add("dec.0.w_if", 4*h, h)
			} else {
				add(fmt.Sprintf("dec.%d.w_ih", l), 4*h, h)
			}
			add(fmt.Sprintf("dec.%d.w_hh", l), 4*h, h)
			add(fmt.Sprintf("dec.%d.bias", l), 1, 4*h)
		}
		add("attn.w_a", h, c.memDim())
		add("attn.w_cc", h, c.memDim())
		add("attn.w_ch", h, h)
	}
	add("out.weight", c.TgtVocab, h)
	add("out.bias", 1, c.TgtVocab)
	return ps
}

// New makes a model with freshly initialised weights: every parameter
// uniform in [−InitScale, InitScale) from a PCG generator seeded with
// (InitSeed, 0), drawn in parameter order. src is nil for an NLM.
func New(cfg Config, src, tgt *vocab.Vocab) (*Model, error) {
	m, err := newModel(cfg, src, tgt)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(cfg.InitSeed, 0))
	for _, p := range m.Params {
		d := p.Data()
		for i := range d {
			d[i] = float32((2*r.Float64() - 1) * cfg.InitScale)
		}
	}
	return m, nil
}

// newModel allocates a model with zero weights and all-ones masks.
func newModel(cfg Config, src, tgt *vocab.Vocab) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	if tgt == nil || tgt.Len() != cfg.TgtVocab {
		return nil, fmt.Errorf("model config: tgt_vocab %d does not match the target vocabulary (%d words)", cfg.TgtVocab, lenOf(tgt))
	}
	if cfg.Kind == NMT && (src == nil || src.Len() != cfg.SrcVocab) {
		return nil, fmt.Errorf("model config: src_vocab %d does not match the source vocabulary (%d words)", cfg.SrcVocab, lenOf(src))
	}
	m := &Model{Config: cfg, Src: src, Tgt: tgt, byName: map[string]*Param{}, graphs: map[graphKey]*Graph{}}
	for _, s := range cfg.specs() {
		p := s
		p.Value = tensor.New(tensor.WithShape(s.Rows, s.Cols), tensor.WithBacking(make([]float32, s.Rows*s.Cols)))
		m.Params = append(m.Params, &p)
		m.byName[p.Name] = &p
	}
	m.Masks = newMasks(cfg)
	return m, nil
}

func lenOf(v *vocab.Vocab) int {
	if v == nil {
		return 0
	}
	return v.Len()
}

// Param returns the parameter called name, or nil.
func (m *Model) Param(name string) *Param { return m.byName[name] }

// NumParams is the total number of weights.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params {
		n += p.Rows * p.Cols
	}
	return n
}

// ParamNames lists the parameter names in canonical order.
func (m *Model) ParamNames() []string {
	names := make([]string, len(m.Params))
	for i, p := range m.Params {
		names[i] = p.Name
	}
	return names
}

// configJSON is the Config as stored in model files.
func (c Config) configJSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}
