// Package extract runs a model over the sentences of a labeled corpus and
// writes every stored layer's per-token activations to grain's activation
// store (package analysis/activations), one row per corpus token, in
// corpus order, with the corpus's own tokens stored beside them (so that
// dataset.Join's text check passes).
//
// Tokens become ids through vocab.Normalize (lower-casing and the Moses
// escapes of the training text) and the model's vocabulary; tokens it
// lacks become <unk> and are counted. No token is dropped: sentences of any
// length are batched with buckets extended past the longest one.
//
// What is stored (Config.NeuronLayers, the Stored layers, D = Hidden):
//
//	NMT  the encoder over the source sentence: layer l's forward output,
//	     then, for a bidirectional layer, its backward output; row t is
//	     the state after reading token t (forward) or tokens t … n−1
//	     (backward)
//	NLM  each LSTM layer's output after reading token t (the model reads
//	     <s> w_0 … w_{n−1}; row t is its output at input w_t)
//
// so a row's global neuron index is the model's (model package
// documentation), and masks and rankings agree with the store.
package extract

import (
	"fmt"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/engine/progress"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/vocab"
)

// Options control extraction.
type Options struct {
	// Batch is the number of sentences run together; Window the number of
	// consecutive sentences batched together (bounding memory, since
	// sentences are written in corpus order).
	Batch, Window int
	// DType is the stored element type (zero: float32).
	DType activations.DType
	// Model names the model in the file's metadata.
	Model    string
	Progress progress.Reporter
}

// Report counts what was extracted.
type Report struct {
	Sentences int `json:"sentences"`
	Tokens    int `json:"tokens"`
	// Unknown counts tokens that became <unk>.
	Unknown int `json:"unknown"`
}

// vocabOf is the vocabulary that reads corpus text.
func vocabOf(m *model.Model) *vocab.Vocab {
	if m.Config.Kind == model.NMT {
		return m.Src
	}
	return m.Tgt
}

// Meta returns the activation-file metadata of m's stored layers, with the
// neurons m's masks clamp to 0.
func Meta(m *model.Model, name, corpusPath string, dt activations.DType) activations.Meta {
	meta := activations.Meta{Model: name, Dim: m.Config.Hidden, DType: dt, Corpus: corpusPath, Tool: "grain extract", Masked: m.Masks.Masked()}
	for _, l := range m.Masks.Layers() {
		if l.Stored {
			meta.Layers = append(meta.Layers, l.Layer)
		}
	}
	return meta
}

// Run extracts m's activations over c into a new activation file at path.
func Run(m *model.Model, c *corpus.Corpus, path string, o Options) (Report, error) {
	var rep Report
	if o.Batch < 1 || o.Window < o.Batch {
		return rep, fmt.Errorf("extract: batch %d and window %d (want 1 ≤ batch ≤ window)", o.Batch, o.Window)
	}
	w, err := activations.Create(path, Meta(m, o.Model, c.Path, o.DType))
	if err != nil {
		return rep, err
	}
	defer w.Abort()
	pr := o.Progress
	if pr == nil {
		pr = progress.Nop
	}
	bar := pr.Start("extract", int64(len(c.Sentences)))
	defer bar.Finish()
	v := vocabOf(m)
	for lo := 0; lo < len(c.Sentences); lo += o.Window {
		sents := c.Sentences[lo:min(lo+o.Window, len(c.Sentences))]
		ids := make([][]int32, len(sents))
		for i, s := range sents {
			if len(s.Tokens) == 0 {
				return rep, fmt.Errorf("extract: %s:%d: sentence without tokens", s.File, s.Line)
			}
			ids[i] = make([]int32, len(s.Tokens))
			for j, tok := range s.Tokens {
				ids[i][j] = v.ID(vocab.Normalize(tok))
				if ids[i][j] == vocab.Unk {
					rep.Unknown++
				}
			}
		}
		// The bar moves as each batch is computed (writing is quick).
		rows, err := activationsOf(m, ids, o.Batch, func() { bar.Add(1) })
		if err != nil {
			return rep, err
		}
		for i, s := range sents {
			if err := w.AppendSentence(s.Tokens, rows[i]); err != nil {
				return rep, err
			}
			rep.Sentences++
			rep.Tokens += len(s.Tokens)
		}
	}
	if w.NumTokens() != c.NumTokens() || w.NumSentences() != len(c.Sentences) {
		return rep, fmt.Errorf("extract: wrote %d tokens in %d sentences for a corpus of %d tokens in %d sentences",
			w.NumTokens(), w.NumSentences(), c.NumTokens(), len(c.Sentences))
	}
	return rep, w.Close()
}

// Activations runs m over sentences of ids (the corpus side: source ids for
// an NMT, ids for an NLM) and returns, per sentence, its tokens' stored
// activations row-major (token t, global neuron g at t·N + g).
func Activations(m *model.Model, sentences [][]int32, batchSize int) ([][]float32, error) {
	return activationsOf(m, sentences, batchSize, nil)
}

// activationsOf is Activations, calling done (if not nil) for each sentence
// once its batch is computed.
func activationsOf(m *model.Model, sentences [][]int32, batchSize int, done func()) ([][]float32, error) {
	longest := 0
	ex := make([]batch.Example, len(sentences))
	for i, s := range sentences {
		longest = max(longest, len(s)+1)
		if m.Config.Kind == model.NMT {
			ex[i] = batch.Example{Src: s, Tgt: []int32{vocab.EOS}}
		} else {
			ex[i] = batch.Example{Tgt: s}
		}
	}
	plan := batch.Plan{Size: batchSize, Bounds: batch.CoveringBounds(longest)}
	h := m.Config.Hidden
	out := make([][]float32, len(sentences))
	for _, spec := range plan.Epoch(ex, 0, 0, false) {
		b := batch.Make(ex, spec)
		shape, off := batch.Shape{Size: spec.Shape.Size, S: spec.Shape.S}, 0
		if m.Config.Kind == model.NLM {
			shape.T, off = spec.Shape.T, 1
		}
		b.Shape = shape
		g, _, err := m.Run(b, model.Features, 0)
		if err != nil {
			return nil, err
		}
		layers, err := g.Stored()
		if err != nil {
			return nil, err
		}
		n := len(layers) * h
		for row, i := range spec.Rows {
			if i < 0 {
				continue
			}
			acts := make([]float32, len(sentences[i])*n)
			for t := range sentences[i] {
				r := (t+off)*shape.Size + row
				for l, layer := range layers {
					copy(acts[t*n+l*h:t*n+(l+1)*h], layer[r*h:(r+1)*h])
				}
			}
			out[i] = acts
			if done != nil {
				done()
			}
		}
	}
	return out, nil
}
