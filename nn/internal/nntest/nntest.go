// Package nntest builds small real-data models for the tests of grain's nn
// packages.
package nntest

import (
	"path/filepath"
	"testing"

	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/vocab"
)

// Multi30k returns the first n sentences of Multi30k's tokenized,
// lower-cased training data in lang (en, de or fr).
func Multi30k(t testing.TB, lang string, n int) [][]string {
	t.Helper()
	dir, err := corpus.SharedDataDir()
	if err != nil {
		t.Fatal(err)
	}
	s, err := vocab.ReadTokenized(filepath.Join(dir, "multi30k", "tok", "train.lc.norm.tok."+lang))
	if err != nil {
		t.Fatal(err)
	}
	return s[:n]
}

// Setup returns a one-layer model (NMT: a two-layer encoder whose first
// layer is bidirectional) over the first n Multi30k sentences, English for
// the NLM and English→German for the NMT, its vocabularies built from
// those sentences, on the CPU backend, and the sentences as examples.
func Setup(t testing.TB, kind string, n, hidden int, dropout float64) (*model.Model, []batch.Example) {
	t.Helper()
	en := Multi30k(t, "en", n)
	tgt := vocab.Build(en, 1, 0)
	var src *vocab.Vocab
	cfg := model.Config{Kind: kind, Embed: hidden, Hidden: hidden, Layers: 1, Dropout: dropout, InitSeed: 7, InitScale: 0.1}
	var ex []batch.Example
	if kind == model.NMT {
		de := Multi30k(t, "de", n)
		src, tgt = tgt, vocab.Build(de, 1, 0)
		cfg.EncLayers, cfg.BiLayers, cfg.SrcVocab = 2, 1, src.Len()
		for i := range en {
			ex = append(ex, batch.Example{Src: src.Encode(en[i]), Tgt: tgt.Encode(de[i])})
		}
	} else {
		for _, s := range en {
			ex = append(ex, batch.Example{Tgt: tgt.Encode(s)})
		}
	}
	cfg.TgtVocab = tgt.Len()
	m, err := model.New(cfg, src, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetBackend(cpu.New()); err != nil {
		t.Fatal(err)
	}
	return m, ex
}
