// Package batch groups sentences of similar length into fixed-shape,
// padded, time-major batches. The models build one graph per batch shape,
// so the shapes come from a short list of length buckets.
//
// A Plan assigns each example to the bucket of its source length (its
// target length for a language model), shuffles every bucket, sorts each
// run of PoolBatches·Size examples of it by target length and cuts it into
// batches of exactly Size rows (the last batch of a bucket is filled with
// empty rows), pads each batch's target side to the bucket of its longest
// target, and shuffles the batches. Everything depends only on the
// examples, the plan, the seed and the epoch number, so an interrupted
// epoch can be replayed batch for batch.
package batch

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/grainlab/grain/nn/vocab"
)

// Example is one training item as vocabulary ids without special tokens:
// a source and a target sentence (NMT) or only a target sentence (NLM,
// Src nil).
type Example struct {
	Src, Tgt []int32
}

// PoolBatches is the number of batches' worth of examples of one bucket
// that Epoch sorts by target length before cutting them into batches.
const PoolBatches = 16

// DefaultBounds are the bucket lengths: every padded length is one of them.
var DefaultBounds = []int{4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 80, 100}

// CoveringBounds returns DefaultBounds extended in steps of 64 until the
// largest bound is at least longest, so that every sequence of up to
// longest tokens has a bucket. Evaluation, decoding and extraction use it
// to take sentences of any length; training keeps to its own bounds.
func CoveringBounds(longest int) []int {
	b := slices.Clone(DefaultBounds)
	for b[len(b)-1] < longest {
		b = append(b, b[len(b)-1]+64)
	}
	return b
}

// Plan says how to batch.
type Plan struct {
	// Size is the number of rows of every batch.
	Size int
	// Bounds are the ascending bucket lengths; a sequence of length n is
	// padded to the smallest bound ≥ n.
	Bounds []int
}

// Bucket returns the padded length of a sequence of length n, or an error
// when n exceeds the largest bound.
func (p Plan) Bucket(n int) (int, error) {
	i, _ := slices.BinarySearch(p.Bounds, n)
	if i == len(p.Bounds) {
		return 0, fmt.Errorf("batch: length %d exceeds the largest bucket %d", n, p.Bounds[len(p.Bounds)-1])
	}
	return p.Bounds[i], nil
}

// MaxLen is the longest sequence a plan accepts (the largest bound).
func (p Plan) MaxLen() int { return p.Bounds[len(p.Bounds)-1] }

// Shape is a batch shape: Size rows, source length S (0 for an NLM) and
// target length T (the decoder's steps, including <s> or </s>).
type Shape struct{ Size, S, T int }

// Spec is one batch before its tensors are made: the examples in it (−1
// for an empty filler row) and its shape.
type Spec struct {
	Rows  []int
	Shape Shape
}

// srcLen is the length that decides an example's bucket.
func srcLen(e Example) int {
	if e.Src != nil {
		return len(e.Src)
	}
	return len(e.Tgt) + 1
}

// Fits reports whether an example fits the plan's buckets.
func (p Plan) Fits(e Example) bool {
	return srcLen(e) <= p.MaxLen() && len(e.Tgt)+1 <= p.MaxLen() && len(e.Tgt) > 0 && (e.Src == nil || len(e.Src) > 0)
}

// Epoch returns the batches of one epoch in order. Examples that do not
// Fit must have been removed; shuffle false keeps corpus order (for
// evaluation). It panics unless p.Size ≥ 1.
func (p Plan) Epoch(examples []Example, seed uint64, epoch int, shuffle bool) []Spec {
	if p.Size < 1 {
		panic(fmt.Sprintf("batch: plan of %d examples a batch", p.Size))
	}
	r := rand.New(rand.NewPCG(seed, uint64(epoch)))
	groups := map[int][]int{}
	var keys []int
	for i, e := range examples {
		b, err := p.Bucket(srcLen(e))
		if err != nil {
			panic(fmt.Sprintf("batch: example %d does not fit the plan: %v", i, err))
		}
		if _, ok := groups[b]; !ok {
			keys = append(keys, b)
		}
		groups[b] = append(groups[b], i)
	}
	slices.Sort(keys)
	var specs []Spec
	for _, k := range keys {
		g := groups[k]
		if shuffle {
			r.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
		}
		// Sort pools of PoolBatches batches by target length, so that a
		// batch's targets are of similar length (less padding) while the
		// batches still change from epoch to epoch.
		pool := PoolBatches * p.Size
		for lo := 0; lo < len(g); lo += pool {
			part := g[lo:min(lo+pool, len(g))]
			slices.SortStableFunc(part, func(a, b int) int { return len(examples[a].Tgt) - len(examples[b].Tgt) })
		}
		for lo := 0; lo < len(g); lo += p.Size {
			rows := slices.Clone(g[lo:min(lo+p.Size, len(g))])
			longest := 0
			for _, i := range rows {
				longest = max(longest, len(examples[i].Tgt)+1)
			}
			for len(rows) < p.Size {
				rows = append(rows, -1)
			}
			t, _ := p.Bucket(longest)
			s := k
			if examples[rows[0]].Src == nil {
				s = 0
			}
			specs = append(specs, Spec{Rows: rows, Shape: Shape{Size: p.Size, S: s, T: t}})
		}
	}
	if shuffle {
		r.Shuffle(len(specs), func(i, j int) { specs[i], specs[j] = specs[j], specs[i] })
	}
	return specs
}

// Batch holds a batch's tensors, time-major (row t·Size + b).
type Batch struct {
	Spec
	// Src (S·Size) are the source ids, padded with vocab.Pad; SrcLen the
	// source lengths (a filler row has length 1: one pad token); SrcValid
	// 1 for real tokens.
	Src      []int32
	SrcLen   []int32
	SrcValid []float32
	// TgtIn (T·Size) is <s> y1 … yn then pads; TgtOut is y1 … yn </s> then
	// −1 (no loss); TgtValid is 1 on the n+1 real steps.
	TgtIn, TgtOut []int32
	TgtValid      []float32
	// Tokens is the number of target tokens that count in the loss.
	Tokens int
}

// Make fills the tensors of spec.
func Make(examples []Example, spec Spec) *Batch {
	sh := spec.Shape
	b := &Batch{Spec: spec,
		TgtIn: make([]int32, sh.T*sh.Size), TgtOut: make([]int32, sh.T*sh.Size), TgtValid: make([]float32, sh.T*sh.Size)}
	if sh.S > 0 {
		b.Src, b.SrcLen, b.SrcValid = make([]int32, sh.S*sh.Size), make([]int32, sh.Size), make([]float32, sh.S*sh.Size)
		for i := range b.Src {
			b.Src[i] = vocab.Pad
		}
	}
	for i := range b.TgtIn {
		b.TgtIn[i], b.TgtOut[i] = vocab.Pad, -1
	}
	for row, ei := range spec.Rows {
		at := func(t int) int { return t*sh.Size + row }
		if ei < 0 {
			if sh.S > 0 {
				b.SrcLen[row] = 1
			}
			continue
		}
		e := examples[ei]
		if sh.S > 0 {
			for t, id := range e.Src {
				b.Src[at(t)], b.SrcValid[at(t)] = id, 1
			}
			b.SrcLen[row] = int32(len(e.Src))
		}
		b.TgtIn[at(0)] = vocab.BOS
		for t, id := range e.Tgt {
			b.TgtIn[at(t+1)] = id
			b.TgtOut[at(t)] = id
		}
		b.TgtOut[at(len(e.Tgt))] = vocab.EOS
		for t := 0; t <= len(e.Tgt); t++ {
			b.TgtValid[at(t)] = 1
		}
		b.Tokens += len(e.Tgt) + 1
	}
	return b
}
