package corpus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ReadCoNLLU reads the CoNLL-U file at path, gzipped or not, into a corpus
// with the properties upos, xpos, feats, deprel and one feats:Name per
// feature name in the file (see the package documentation). Malformed
// input is a *ParseError naming the file and line.
func ReadCoNLLU(path string) (*Corpus, error) {
	return readFile(path, parseCoNLLU)
}

var conlluColumns = [10]string{"ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC"}

// conlluParser holds the state of one CoNLL-U read.
type conlluParser struct {
	lr        *lineReader
	in        interner
	sents     []Sentence
	featNames map[string]bool
	goodFeats interner // FEATS strings already checked
	// For UPOS, XPOS and DEPREL: whether any word has a value, and the
	// error of the first line whose value Labels would refuse (unspecified,
	// "_", or with white space at an end).
	annotated map[string]bool
	refused   map[string]error

	// The sentence being read.
	start     int // line its block starts on; 0 between blocks
	id, text  string
	hasID     bool
	hasText   bool
	inTokens  bool // a token line (word, range or empty node) was read
	rangeEnd  int  // last word of the latest multiword token
	rangeLine int  // line of the latest multiword token
	tokens    []string
	upos      []string
	xpos      []string
	feats     []string
	deprel    []string
}

// parseCoNLLU reads CoNLL-U from r, named path in errors.
func parseCoNLLU(r io.Reader, path string) (*Corpus, error) {
	lr, err := newLineReader(r, path)
	if err != nil {
		return nil, err
	}
	p := &conlluParser{lr: lr, in: make(interner), featNames: make(map[string]bool), goodFeats: make(interner),
		annotated: map[string]bool{}, refused: map[string]error{}}
	var cols [10][]byte
	for lr.scan() {
		line := lr.bytes()
		if len(line) == 0 {
			if err := p.end(); err != nil {
				return nil, err
			}
			continue
		}
		if p.start == 0 {
			p.start = lr.line
		}
		if line[0] == '#' {
			if err := p.comment(line); err != nil {
				return nil, err
			}
			continue
		}
		p.inTokens = true
		if n := splitTabs(line, cols[:]); n != len(cols) {
			return nil, lr.errorf("%d tab-separated columns, want 10", n)
		}
		for i, col := range cols {
			if len(col) == 0 {
				return nil, lr.errorf("column %d (%s) is empty", i+1, conlluColumns[i])
			}
		}
		if err := p.token(&cols); err != nil {
			return nil, err
		}
	}
	if lr.err != nil {
		return nil, lr.err
	}
	if err := p.end(); err != nil { // a last sentence with no blank line after it
		return nil, err
	}
	if len(p.sents) == 0 {
		return nil, &ParseError{Path: path, Err: errors.New("no sentences")}
	}
	// A column no word annotates is not a property of the file; one that
	// some words leave unspecified is, but Labels refuses it.
	var props []string
	refused := map[string]error{}
	for _, prop := range []string{UPOS, XPOS, Feats, Deprel} {
		if prop != Feats && !p.annotated[prop] {
			continue
		}
		props = append(props, prop)
		if err := p.refused[prop]; err != nil {
			refused[prop] = err
		}
	}
	names := make([]string, 0, len(p.featNames))
	for name := range p.featNames {
		names = append(names, FeatPrefix+name)
	}
	slices.Sort(names)
	return &Corpus{Path: path, Sentences: p.sents, Properties: append(props, names...), refused: refused}, nil
}

// checkLabel returns the error Labels gives for property prop when the
// current line's value v would not be a label: unspecified ("_"), or with
// white space at an end (a label apart from the one without; UD's validator
// refuses these too). nil when v is a label.
func (p *conlluParser) checkLabel(prop string, v []byte) error {
	if string(v) == "_" {
		return p.lr.errorf("%s is unspecified (\"_\") for this word (the first of those that leave it so): grain does not take \"_\" as a label; annotate or drop those sentences", prop)
	}
	if t := bytes.TrimFunc(v, IsSpace); len(t) != len(v) {
		return p.lr.errorf("%s %q has white space at an end (a label that would differ from %q)", prop, v, t)
	}
	return nil
}

// comment handles a comment line.
func (p *conlluParser) comment(line []byte) error {
	if p.inTokens {
		return p.lr.errorf("comment line after token lines (a blank line must end each sentence)")
	}
	if v, ok := commentValue(line, "sent_id"); ok {
		if p.hasID {
			return p.lr.errorf("second sent_id comment in one sentence")
		}
		p.id, p.hasID = string(v), true
	} else if v, ok := commentValue(line, "text"); ok {
		if p.hasText {
			return p.lr.errorf("second text comment in one sentence")
		}
		p.text, p.hasText = string(v), true
	}
	return nil
}

// commentValue returns the value of a "# key = value" comment line.
func commentValue(line []byte, key string) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(line[1:]), []byte(key))
	if !ok {
		return nil, false
	}
	rest, ok = bytes.CutPrefix(bytes.TrimSpace(rest), []byte("="))
	if !ok {
		return nil, false
	}
	return bytes.TrimSpace(rest), true
}

// token handles a token line split into its 10 non-empty columns.
func (p *conlluParser) token(cols *[10][]byte) error {
	id := cols[0]
	next := len(p.tokens) + 1
	if i := bytes.IndexByte(id, '-'); i >= 0 {
		a, okA := parseNum(id[:i])
		b, okB := parseNum(id[i+1:])
		switch {
		case !okA || !okB:
			return p.lr.errorf("invalid ID %q", id)
		case a != next:
			return p.lr.errorf("multiword token %s does not start at the next word ID %d", id, next)
		case b <= a:
			return p.lr.errorf("multiword token %s spans fewer than two words", id)
		case a <= p.rangeEnd:
			return p.lr.errorf("multiword token %s overlaps the one ending at word %d", id, p.rangeEnd)
		}
		p.rangeEnd, p.rangeLine = b, p.lr.line
		return nil
	}
	if i := bytes.IndexByte(id, '.'); i >= 0 {
		a, okA := parseNum(id[:i])
		b, okB := parseNum(id[i+1:])
		switch {
		case !okA || !okB || b == 0:
			return p.lr.errorf("invalid ID %q", id)
		case a != next-1:
			return p.lr.errorf("empty node %s does not follow word %d", id, next-1)
		}
		return nil
	}
	n, ok := parseNum(id)
	if !ok || n == 0 {
		return p.lr.errorf("invalid ID %q", id)
	}
	if n != next {
		return p.lr.errorf("word ID %d out of sequence, want %d", n, next)
	}
	feats, ok := p.goodFeats[string(cols[5])]
	if !ok {
		feats = string(cols[5])
		if err := p.checkFeats(feats); err != nil {
			return err
		}
		p.goodFeats[feats] = feats
	}
	for _, c := range [...]struct {
		prop string
		col  int
	}{{UPOS, 3}, {XPOS, 4}, {Deprel, 7}} {
		if string(cols[c.col]) != "_" {
			p.annotated[c.prop] = true
		}
		if p.refused[c.prop] == nil {
			p.refused[c.prop] = p.checkLabel(c.prop, cols[c.col])
		}
	}
	p.tokens = append(p.tokens, p.in.get(cols[1]))
	p.upos = append(p.upos, p.in.get(cols[3]))
	p.xpos = append(p.xpos, p.in.get(cols[4]))
	p.feats = append(p.feats, feats)
	p.deprel = append(p.deprel, p.in.get(cols[7]))
	return nil
}

// checkFeats checks a FEATS column ("_" or "Name=Value|...", no name twice)
// and records its feature names.
func (p *conlluParser) checkFeats(feats string) error {
	if feats == "_" {
		return nil
	}
	var names []string
	for f := range strings.SplitSeq(feats, "|") {
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" || value == "" {
			return p.lr.errorf("malformed feature %q in FEATS %q (want Name=Value)", f, feats)
		}
		if slices.Contains(names, name) {
			return p.lr.errorf("feature %s given twice in FEATS %q", name, feats)
		}
		names = append(names, name)
	}
	for _, name := range names {
		p.featNames[name] = true
	}
	return nil
}

// end finishes the current block, if any, at a blank line or the end of
// the input.
func (p *conlluParser) end() error {
	if p.start == 0 {
		return nil
	}
	switch {
	case len(p.tokens) == 0 && (p.inTokens || p.hasID || p.hasText):
		return &ParseError{Path: p.lr.path, Line: p.start, Err: errors.New("sentence has no words")}
	case p.rangeEnd > len(p.tokens):
		return &ParseError{Path: p.lr.path, Line: p.rangeLine,
			Err: fmt.Errorf("multiword token ends at word %d, past the sentence's last word %d", p.rangeEnd, len(p.tokens))}
	}
	if len(p.tokens) > 0 {
		p.sents = append(p.sents, Sentence{
			ID:     p.id,
			Text:   p.text,
			File:   p.lr.path,
			Line:   p.start,
			Tokens: slices.Clone(p.tokens),
			Props: map[string][]string{
				UPOS:   slices.Clone(p.upos),
				XPOS:   slices.Clone(p.xpos),
				Feats:  slices.Clone(p.feats),
				Deprel: slices.Clone(p.deprel),
			},
		})
	}
	*p = conlluParser{
		lr: p.lr, in: p.in, sents: p.sents, featNames: p.featNames, goodFeats: p.goodFeats,
		annotated: p.annotated, refused: p.refused,
		tokens: p.tokens[:0], upos: p.upos[:0], xpos: p.xpos[:0], feats: p.feats[:0], deprel: p.deprel[:0],
	}
	return nil
}

// parseNum parses a CoNLL-U ID number: decimal digits without a sign or a
// leading zero, at most 9 of them.
func parseNum(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
