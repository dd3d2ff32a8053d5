package batch

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grainlab/grain/nn/vocab"
)

func randomExamples(n int, withSrc bool) []Example {
	r := rand.New(rand.NewPCG(1, 1))
	ex := make([]Example, n)
	for i := range ex {
		ex[i].Tgt = make([]int32, 1+r.IntN(30))
		if withSrc {
			ex[i].Src = make([]int32, 1+r.IntN(30))
		}
	}
	return ex
}

// TestEpochCoversEveryExampleOnce checks that each epoch uses every example
// exactly once in batches of the plan's shapes, that it depends only on
// the seed and epoch, and that epochs differ.
func TestEpochCoversEveryExampleOnce(t *testing.T) {
	for _, withSrc := range []bool{true, false} {
		ex := randomExamples(500, withSrc)
		p := Plan{Size: 16, Bounds: DefaultBounds}
		e0 := p.Epoch(ex, 3, 0, true)
		seen := make([]int, len(ex))
		for _, s := range e0 {
			if len(s.Rows) != 16 {
				t.Fatalf("batch of %d rows", len(s.Rows))
			}
			for _, i := range s.Rows {
				if i < 0 {
					continue
				}
				seen[i]++
				e := ex[i]
				if len(e.Tgt)+1 > s.Shape.T || (withSrc && len(e.Src) > s.Shape.S) || (!withSrc && s.Shape.S != 0) {
					t.Fatalf("example %d (%d, %d) in a batch of shape %+v", i, len(e.Src), len(e.Tgt), s.Shape)
				}
			}
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("example %d used %d times", i, n)
			}
		}
		if again := p.Epoch(ex, 3, 0, true); !slices.EqualFunc(e0, again, func(a, b Spec) bool { return slices.Equal(a.Rows, b.Rows) && a.Shape == b.Shape }) {
			t.Fatal("the same seed and epoch gave other batches")
		}
		if e1 := p.Epoch(ex, 3, 1, true); slices.Equal(e0[0].Rows, e1[0].Rows) {
			t.Fatal("epoch 1 starts like epoch 0")
		}
	}
}

func TestMakeLayout(t *testing.T) {
	ex := []Example{{Src: []int32{7, 8, 9}, Tgt: []int32{5, 6}}}
	b := Make(ex, Spec{Rows: []int{-1, 0}, Shape: Shape{Size: 2, S: 4, T: 4}})
	// Row 1 holds the example; row 0 is a filler.
	if !slices.Equal(b.Src, []int32{vocab.Pad, 7, vocab.Pad, 8, vocab.Pad, 9, vocab.Pad, vocab.Pad}) {
		t.Fatalf("Src %v", b.Src)
	}
	if !slices.Equal(b.SrcLen, []int32{1, 3}) || !slices.Equal(b.SrcValid, []float32{0, 1, 0, 1, 0, 1, 0, 0}) {
		t.Fatalf("SrcLen %v SrcValid %v", b.SrcLen, b.SrcValid)
	}
	if !slices.Equal(b.TgtIn, []int32{vocab.Pad, vocab.BOS, vocab.Pad, 5, vocab.Pad, 6, vocab.Pad, vocab.Pad}) {
		t.Fatalf("TgtIn %v", b.TgtIn)
	}
	if !slices.Equal(b.TgtOut, []int32{-1, 5, -1, 6, -1, vocab.EOS, -1, -1}) || b.Tokens != 3 {
		t.Fatalf("TgtOut %v, %d tokens", b.TgtOut, b.Tokens)
	}
	if _, err := (Plan{Size: 1, Bounds: DefaultBounds}).Bucket(101); err == nil {
		t.Fatal("length 101 fits the default buckets")
	}
}

func TestCoveringBounds(t *testing.T) {
	if b := CoveringBounds(30); !slices.Equal(b, DefaultBounds) {
		t.Fatalf("CoveringBounds(30) = %v, want DefaultBounds", b)
	}
	b := CoveringBounds(229)
	if got := b[len(DefaultBounds):]; !slices.Equal(got, []int{164, 228, 292}) || &b[0] == &DefaultBounds[0] {
		t.Fatalf("CoveringBounds(229) extends with %v", got)
	}
	if _, err := (Plan{Size: 1, Bounds: b}).Bucket(229); err != nil {
		t.Fatal(err)
	}
}
