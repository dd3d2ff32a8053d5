package corpus

import (
	"fmt"
	"slices"
	"strings"
)

// Names of the properties that the readers store.
const (
	UPOS   = "upos"   // CoNLL-U universal POS tag (column 4)
	XPOS   = "xpos"   // CoNLL-U language-specific POS tag (column 5)
	Feats  = "feats"  // CoNLL-U morphological features, whole string (column 6)
	Deprel = "deprel" // CoNLL-U dependency relation (column 8)

	Sym   = "sym" // PMB symbol / lemma (column 3)
	Sem   = "sem" // PMB semantic tag (column 4)
	CCG   = "ccg" // PMB CCG supertag (column 5)
	Sense = "sns" // PMB WordNet sense (column 6)
	Roles = "rol" // PMB VerbNet roles (column 7)
)

// FeatPrefix starts the name of a per-feature CoNLL-U property:
// FeatPrefix+"Case" is "feats:Case".
const FeatPrefix = Feats + ":"

// Absent is the label of a per-feature property (feats:Name) on a token
// that does not have the feature; it is CoNLL-U's own "no value" mark.
const Absent = "_"

// A Sentence is one sentence of a corpus: its tokens and, for each stored
// property, one label per token.
type Sentence struct {
	// ID identifies the sentence in its file: the CoNLL-U sent_id, the PMB
	// document id and sentence number ("p02/d1539#2"), or "" when the
	// format gives none.
	ID string
	// Text is the untokenised sentence when the file gives it (CoNLL-U
	// "# text", PMB "# raw sent"), else "".
	Text string
	// File is the path the sentence was read from (for NeuroX text, the
	// tokens file).
	File string
	// Line is the 1-based line on which the sentence starts: in CoNLL-U
	// the first line of its block, comments included; in PMB its "# raw
	// sent" comment, or its first token row when it has none; in NeuroX
	// text its line.
	Line int
	// Tokens are the sentence's tokens, in order.
	Tokens []string
	// Props maps each stored property name to the sentence's labels for
	// it, one per token.
	Props map[string][]string
}

// Labels returns the sentence's labels for property, one per token: a
// stored property, a per-feature property feats:Name (derived from the
// stored feats), or a derived property (see DerivedProperties). Stored
// labels are returned without copying and must not be modified. Labels
// returns an error, prefixed with the sentence's file and line, when the
// sentence has no such property or its stored labels do not match its
// tokens in number.
func (s *Sentence) Labels(property string) ([]string, error) {
	if labels, ok := s.Props[property]; ok {
		if len(labels) != len(s.Tokens) {
			return nil, s.errorf("property %q has %d labels for %d tokens", property, len(labels), len(s.Tokens))
		}
		return labels, nil
	}
	if name, ok := strings.CutPrefix(property, FeatPrefix); ok && name != "" {
		feats, err := s.Labels(Feats)
		if err != nil {
			return nil, err
		}
		labels := make([]string, len(feats))
		for i, f := range feats {
			labels[i] = featValue(f, name)
		}
		return labels, nil
	}
	if derive, ok := derived[property]; ok {
		labels := make([]string, len(s.Tokens))
		for i, tok := range s.Tokens {
			labels[i] = derive(i, tok)
		}
		return labels, nil
	}
	return nil, s.errorf("no property %q", property)
}

// errorf returns an error prefixed with the sentence's "file:line: ".
func (s *Sentence) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", s.File, s.Line, fmt.Sprintf(format, args...))
}

// featValue returns the value of feature name in a CoNLL-U FEATS string
// ("Case=Nom|Number=Sing"), or Absent when it has none.
func featValue(feats, name string) string {
	for feats != "" {
		var f string
		f, feats, _ = strings.Cut(feats, "|")
		if v, ok := strings.CutPrefix(f, name); ok && strings.HasPrefix(v, "=") {
			return v[1:]
		}
	}
	return Absent
}

// A Corpus is the sequence of labeled sentences read from one file.
type Corpus struct {
	// Path is the file the corpus was read from (for NeuroX text, the
	// tokens file).
	Path string
	// Sentences are the sentences in file order.
	Sentences []Sentence
	// Properties names the properties the file carries: those stored in
	// every Sentence.Props, then any feats:Name properties in sorted
	// order. The derived properties are not listed but always available.
	Properties []string
	// refused maps a property whose values are not all labels (CoNLL-U
	// UPOS, XPOS or DEPREL: "_" for some words, or a value with white space
	// at an end) to the error naming the first such line, which Labels
	// returns: other properties of the file stay usable.
	refused map[string]error
}

// Has reports whether property is available on c: listed in c.Properties
// or derived.
func (c *Corpus) Has(property string) bool {
	_, isDerived := derived[property]
	return isDerived || slices.Contains(c.Properties, property)
}

// Tokens returns the tokens of every sentence, in order. The inner slices
// are the sentences' own and must not be modified.
func (c *Corpus) Tokens() [][]string {
	toks := make([][]string, len(c.Sentences))
	for i := range c.Sentences {
		toks[i] = c.Sentences[i].Tokens
	}
	return toks
}

// NumTokens returns the number of tokens in c.
func (c *Corpus) NumTokens() int {
	n := 0
	for i := range c.Sentences {
		n += len(c.Sentences[i].Tokens)
	}
	return n
}

// Labels returns every sentence's labels for property (see
// Sentence.Labels), in order, parallel to Tokens. Stored labels are the
// sentences' own and must not be modified. It returns an error when c does
// not have the property, some of its values are not labels (unspecified,
// or with white space at an end), or a sentence's labels do not match its
// tokens.
func (c *Corpus) Labels(property string) ([][]string, error) {
	if !c.Has(property) {
		return nil, fmt.Errorf("%s: no property %q (have %s and derived %s)",
			c.Path, property, strings.Join(c.Properties, " "), strings.Join(DerivedProperties(), " "))
	}
	if err := c.refused[property]; err != nil {
		return nil, err
	}
	all := make([][]string, len(c.Sentences))
	for i := range c.Sentences {
		labels, err := c.Sentences[i].Labels(property)
		if err != nil {
			return nil, err
		}
		all[i] = labels
	}
	return all, nil
}

// LabelSet returns the distinct labels of property in c, sorted.
func (c *Corpus) LabelSet(property string) ([]string, error) {
	all, err := c.Labels(property)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]struct{})
	for _, labels := range all {
		for _, l := range labels {
			seen[l] = struct{}{}
		}
	}
	set := make([]string, 0, len(seen))
	for l := range seen {
		set = append(set, l)
	}
	slices.Sort(set)
	return set, nil
}

// A ParseError reports malformed input, or a failure to read it, at a line
// of a file.
type ParseError struct {
	Path string // the file
	Line int    // 1-based line number; 0 when the error concerns the whole file
	Err  error  // what is wrong
}

// Error returns "path:line: message", or "path: message" when Line is 0.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

// Unwrap returns e.Err.
func (e *ParseError) Unwrap() error { return e.Err }
