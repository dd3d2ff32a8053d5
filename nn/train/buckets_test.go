package train

import (
	"path/filepath"
	"testing"

	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/vocab"
)

// TestEveryBucketShapeRuns builds the training graph of every batch shape
// that training on Multi30k can use with the default buckets and batch
// size 64 (the shipped models' setting) — every source bucket with every
// target bucket between its shortest and longest target — and runs one
// optimizer step on real sentences of that shape, at a tiny hidden size.
// Gorgonia has failed at run time for one shape only (DESIGN.md), so no
// shape is left to chance.
func TestEveryBucketShapeRuns(t *testing.T) {
	dir, err := corpus.SharedDataDir()
	if err != nil {
		t.Fatal(err)
	}
	read := func(lang string) [][]string {
		s, err := vocab.ReadTokenized(filepath.Join(dir, "multi30k", "tok", "train.lc.norm.tok."+lang))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	en := read("en")
	const size = 64
	plan := batch.Plan{Size: size, Bounds: batch.DefaultBounds}
	for _, c := range []struct{ kind, tgt string }{{model.NLM, "en"}, {model.NMT, "de"}, {model.NMT, "fr"}} {
		t.Run(c.kind+"-"+c.tgt, func(t *testing.T) {
			tgt := read(c.tgt)
			tv := vocab.Build(tgt, 2, 0)
			cfg := model.Config{Kind: c.kind, Embed: 4, Hidden: 4, Layers: 2, Dropout: 0.3, TgtVocab: tv.Len(), InitSeed: 1, InitScale: 0.1}
			var sv *vocab.Vocab
			if c.kind == model.NMT {
				sv = vocab.Build(en, 2, 0)
				cfg.EncLayers, cfg.BiLayers, cfg.SrcVocab = 2, 1, sv.Len()
			}
			m, err := model.New(cfg, sv, tv)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetBackend(cpu.New()); err != nil {
				t.Fatal(err)
			}
			// Group the examples by source bucket, and by target bucket
			// within it.
			groups := map[int]map[int][]batch.Example{}
			for i := range tgt {
				e := batch.Example{Tgt: tv.Encode(tgt[i])}
				key := len(e.Tgt) + 1
				if sv != nil {
					e.Src = sv.Encode(en[i])
					key = len(e.Src)
				}
				s, err := plan.Bucket(key)
				if err != nil {
					t.Fatal(err)
				}
				tb, _ := plan.Bucket(len(e.Tgt) + 1)
				if groups[s] == nil {
					groups[s] = map[int][]batch.Example{}
				}
				groups[s][tb] = append(groups[s][tb], e)
			}
			tr, err := New(m, Data{Train: []batch.Example{{Tgt: []int32{4}}}, Val: []batch.Example{{Tgt: []int32{4}}}}, Options{Batch: size, LR: 1e-3, Clip: 5, Epochs: 1})
			if err != nil {
				t.Fatal(err)
			}
			shapes := 0
			for s, byT := range groups {
				lo, hi := plan.MaxLen(), 0
				for tb := range byT {
					lo, hi = min(lo, tb), max(hi, tb)
				}
				for _, tb := range plan.Bounds {
					if tb < lo || tb > hi {
						continue
					}
					// Rows: one example of this target bucket (or the
					// longest shorter one) and fillers.
					var ex batch.Example
					for b := tb; b >= lo && ex.Tgt == nil; b-- {
						if len(byT[b]) > 0 {
							ex = byT[b][0]
						}
					}
					shape := batch.Shape{Size: size, S: s, T: tb}
					if c.kind == model.NLM {
						shape.S = 0
					}
					rows := make([]int, size)
					for i := range rows {
						rows[i] = -1
					}
					rows[0] = 0
					if _, err := tr.Step(batch.Make([]batch.Example{ex}, batch.Spec{Rows: rows, Shape: shape})); err != nil {
						t.Fatalf("shape %+v: %v", shape, err)
					}
					shapes++
				}
			}
			t.Logf("%d shapes", shapes)
			if shapes < 10 {
				t.Fatalf("only %d shapes: the test checks little", shapes)
			}
		})
	}
}
