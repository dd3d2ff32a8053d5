package corpus

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func handCorpus() *Corpus {
	return &Corpus{
		Path: "hand.conllu",
		Sentences: []Sentence{{
			ID: "s1", File: "hand.conllu", Line: 1,
			Tokens: []string{"She", "left", "in", "May", "."},
			Props: map[string][]string{
				UPOS:  {"PRON", "VERB", "ADP", "PROPN", "PUNCT"},
				Feats: {"Case=Nom|Number=Sing|PronType=Prs", "Tense=Past|VerbForm=Fin", "_", "Number=Sing", "_"},
			},
		}, {
			ID: "s2", File: "hand.conllu", Line: 9,
			Tokens: []string{"Sept.", "ends"},
			Props: map[string][]string{
				UPOS:  {"PROPN", "VERB"},
				Feats: {"Number=Sing", "Number=Sing|Tense=Pres"},
			},
		}},
		Properties: []string{UPOS, Feats, "feats:Case", "feats:Number", "feats:PronType", "feats:Tense", "feats:VerbForm"},
	}
}

func TestCorpusLabels(t *testing.T) {
	c := handCorpus()
	if got, want := c.NumTokens(), 7; got != want {
		t.Errorf("NumTokens = %d, want %d", got, want)
	}
	if got, want := c.Tokens(), [][]string{{"She", "left", "in", "May", "."}, {"Sept.", "ends"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		property string
		want     [][]string
	}{
		{UPOS, [][]string{{"PRON", "VERB", "ADP", "PROPN", "PUNCT"}, {"PROPN", "VERB"}}},
		{"feats:Number", [][]string{{"Sing", "_", "_", "Sing", "_"}, {"Sing", "Sing"}}},
		{"feats:Tense", [][]string{{"_", "Past", "_", "_", "_"}, {"_", "Pres"}}},
		{"feats:Case", [][]string{{"Nom", "_", "_", "_", "_"}, {"_", "_"}}},
		{Position, [][]string{{"0", "1", "2", "3", "4"}, {"0", "1"}}},
		{PositionBucket, [][]string{{"0", "1", "2", "3", "4"}, {"0", "1"}}},
		{Month, [][]string{{"O", "O", "O", "May", "O"}, {"September", "O"}}},
	} {
		got, err := c.Labels(tc.property)
		if err != nil {
			t.Errorf("Labels(%q): %v", tc.property, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Labels(%q) = %q, want %q", tc.property, got, tc.want)
		}
	}
	set, err := c.LabelSet("feats:Number")
	if err != nil || !reflect.DeepEqual(set, []string{"Sing", "_"}) {
		t.Errorf(`LabelSet("feats:Number") = %q, %v; want ["Sing" "_"]`, set, err)
	}
}

func TestCorpusHas(t *testing.T) {
	c := handCorpus()
	for p, want := range map[string]bool{
		UPOS: true, "feats:Case": true, Position: true, PositionBucket: true, Month: true,
		XPOS: false, "feats:Gender": false, "feats:": false, "": false,
	} {
		if got := c.Has(p); got != want {
			t.Errorf("Has(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestCorpusLabelsErrors(t *testing.T) {
	c := handCorpus()
	for _, p := range []string{XPOS, "feats:Gender", "feats:", ""} {
		_, err := c.Labels(p)
		if err == nil || !strings.Contains(err.Error(), "hand.conllu: no property") {
			t.Errorf("Labels(%q) error = %v, want one naming the file and the missing property", p, err)
		}
		if _, err := c.LabelSet(p); err == nil {
			t.Errorf("LabelSet(%q) succeeded on a missing property", p)
		}
	}
	// A hand-built sentence whose labels do not match its tokens.
	c.Sentences[1].Props[UPOS] = []string{"PROPN"}
	_, err := c.Labels(UPOS)
	if err == nil || err.Error() != `hand.conllu:9: property "upos" has 1 labels for 2 tokens` {
		t.Errorf("Labels on mismatched sentence: error %v, want hand.conllu:9 ... 1 labels for 2 tokens", err)
	}
	c.Sentences[1].Props[Feats] = []string{"_"}
	if _, err := c.Labels("feats:Number"); err == nil {
		t.Error("Labels(feats:Number) on mismatched feats succeeded")
	}
}

func TestSentenceLabelsUnknown(t *testing.T) {
	s := &Sentence{File: "x", Line: 3, Tokens: []string{"a"}, Props: map[string][]string{"tag": {"T"}}}
	if _, err := s.Labels("feats:Case"); err == nil || err.Error() != `x:3: no property "feats"` {
		t.Errorf(`feats:Case without feats: error %v, want x:3: no property "feats"`, err)
	}
	if _, err := s.Labels("nope"); err == nil || err.Error() != `x:3: no property "nope"` {
		t.Errorf(`Labels("nope") error %v`, err)
	}
	got, err := s.Labels("tag")
	if err != nil || !reflect.DeepEqual(got, []string{"T"}) {
		t.Errorf(`Labels("tag") = %q, %v`, got, err)
	}
}

func TestFeatValue(t *testing.T) {
	for _, tc := range []struct{ feats, name, want string }{
		{"Case=Nom|Number=Sing", "Case", "Nom"},
		{"Case=Nom|Number=Sing", "Number", "Sing"},
		{"Case=Nom|Number=Sing", "Num", "_"},
		{"Number[psor]=Plur|Number=Sing", "Number", "Sing"},
		{"Number[psor]=Plur|Number=Sing", "Number[psor]", "Plur"},
		{"PronType=Int,Rel", "PronType", "Int,Rel"},
		{"_", "Case", "_"},
	} {
		if got := featValue(tc.feats, tc.name); got != tc.want {
			t.Errorf("featValue(%q, %q) = %q, want %q", tc.feats, tc.name, got, tc.want)
		}
	}
}

func TestParseErrorFormat(t *testing.T) {
	inner := errors.New("boom")
	e := &ParseError{Path: "a/b.conllu", Line: 7, Err: inner}
	if got := e.Error(); got != "a/b.conllu:7: boom" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&ParseError{Path: "f", Err: inner}).Error(); got != "f: boom" {
		t.Errorf("Error() without line = %q", got)
	}
	if !errors.Is(e, inner) {
		t.Error("ParseError does not unwrap to its Err")
	}
}
