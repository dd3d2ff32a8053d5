package bleu

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Fatalf("%s = %.12g, want %.12g", what, got, want)
	}
}

func score(t *testing.T, hyps, refs []string) Score {
	t.Helper()
	s, err := Corpus(hyps, refs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHandComputed(t *testing.T) {
	// Perfect match.
	near(t, "perfect", score(t, []string{"a man rides a horse .", "two dogs play"}, []string{"a man rides a horse .", "two dogs play"}).BLEU, 100)
	// No overlap at all: sacreBLEU returns 0 before smoothing.
	near(t, "no overlap", score(t, []string{"a b c d"}, []string{"e f g h"}).BLEU, 0)

	// Brevity penalty: the hypothesis is a 4-token prefix of a 6-token
	// reference. Precisions 4/4, 3/3, 2/2, 1/1 → 100; BP = exp(1 − 6/4).
	s := score(t, []string{"w x y z"}, []string{"w x y z u v"})
	near(t, "BP", s.BP, math.Exp(1-6.0/4))
	near(t, "prefix BLEU", s.BLEU, 100*math.Exp(-0.5))
	// A longer hypothesis has no brevity penalty: "w x y z u v q" against
	// "w x y z u v": p = 6/7, 5/6, 4/5, 3/4.
	s = score(t, []string{"w x y z u v q"}, []string{"w x y z u v"})
	near(t, "no BP", s.BP, 1)
	near(t, "long BLEU", s.BLEU, 100*math.Pow(6.0/7*5.0/6*4.0/5*3.0/4, 0.25))

	// Clipping and exp smoothing: "the the the the" vs "the cat": p1 = 1/4
	// (clipped), 2- to 4-grams unmatched: 100/(2·3), 100/(4·2), 100/(8·1);
	// BP = 1 (4 ≥ 2).
	s = score(t, []string{"the the the the"}, []string{"the cat"})
	want := math.Exp((math.Log(25) + math.Log(100.0/6) + math.Log(100.0/8) + math.Log(100.0/8)) / 4)
	near(t, "clipped and smoothed", s.BLEU, want)

	// A hypothesis shorter than 4 tokens has no 4-grams: that precision
	// stays 0 and the score is (essentially) 0.
	if s := score(t, []string{"a b c"}, []string{"a b c"}); s.BLEU > 1e-100 {
		t.Fatalf("3-token corpus BLEU = %g, want ~0 (no 4-grams)", s.BLEU)
	}
}

// TestCorpusIsNotSentenceAverage: BLEU pools statistics over the corpus.
func TestCorpusIsNotSentenceAverage(t *testing.T) {
	hyps := []string{"a b c d e f", "x y z w"}
	refs := []string{"a b c d e f", "x y q w"}
	// Sentence 1 is perfect (100). Sentence 2: p1 3/4, p2 1/3, p3 0/2 →
	// 100/(2·2), p4 0/1 → 100/(4·1).
	s2 := math.Exp((math.Log(75) + math.Log(100.0/3) + math.Log(25) + math.Log(25)) / 4)
	near(t, "sentence 2", score(t, hyps[1:], refs[1:]).BLEU, s2)
	// Pooled: correct 9,6,4,3 of totals 10,8,6,4.
	pooled := 100 * math.Pow(9.0/10*6.0/8*4.0/6*3.0/4, 0.25)
	near(t, "corpus", score(t, hyps, refs).BLEU, pooled)
	if avg := (100 + s2) / 2; math.Abs(avg-pooled) < 1 {
		t.Fatalf("test data do not separate corpus BLEU %g from the sentence average %g", pooled, avg)
	}
}

func TestLengthMismatch(t *testing.T) {
	if _, err := Corpus([]string{"a"}, nil); err == nil {
		t.Fatal("no error for 1 hypothesis and 0 references")
	}
}

// TestWhiteSpaceAsSacreBLEU: tokens are split where Python's str.split()
// splits, including the separators U+001C–U+001F that Go's strings.Fields
// keeps inside tokens (sacreBLEU scores these sentences 100).
func TestWhiteSpaceAsSacreBLEU(t *testing.T) {
	hyps := []string{"ein\x1cmann\u00a0geht \x1fnach hause\u2003."}
	refs := []string{"ein mann geht nach hause ."}
	near(t, "BLEU", score(t, hyps, refs).BLEU, 100)
}
