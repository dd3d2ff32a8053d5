package corpus

import (
	"errors"
	"io"
	"slices"
	"strconv"
)

// ReadPMB reads the Parallel Meaning Bank layer CoNLL file at path, gzipped
// or not, into a corpus with the properties sym, sem, ccg, sns and rol (see
// the package documentation). Malformed input is a *ParseError naming the
// file and line.
func ReadPMB(path string) (*Corpus, error) {
	return readFile(path, parsePMB)
}

// pmbProps names the properties of PMB columns 3 to 7.
var pmbProps = [5]string{Sym, Sem, CCG, Sense, Roles}

// pmbParser holds the state of one PMB read.
type pmbParser struct {
	lr    *lineReader
	in    interner
	sents []Sentence
	doc   string // current document id
	inDoc int    // sentences read in the current document

	// The sentence being read.
	start   int // line its block starts on; 0 between blocks
	line    int // line the sentence starts on: its raw sent comment or first row
	text    string
	hasText bool
	tokens  []string
	labels  [len(pmbProps)][]string
}

// parsePMB reads PMB layer CoNLL from r, named path in errors.
func parsePMB(r io.Reader, path string) (*Corpus, error) {
	lr, err := newLineReader(r, path)
	if err != nil {
		return nil, err
	}
	p := &pmbParser{lr: lr, in: make(interner)}
	var cols [7][]byte
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
		if isPMBComment(line) {
			if err := p.comment(line); err != nil {
				return nil, err
			}
			continue
		}
		if n := splitTabs(line, cols[:]); n != len(cols) {
			return nil, lr.errorf("%d tab-separated columns, want 7", n)
		}
		for i, col := range cols {
			if len(col) == 0 {
				return nil, lr.errorf("column %d is empty", i+1)
			}
		}
		if p.line == 0 {
			p.line = lr.line
		}
		p.tokens = append(p.tokens, p.in.get(cols[0]))
		for i := range p.labels {
			p.labels[i] = append(p.labels[i], p.in.get(cols[i+2]))
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
	return &Corpus{Path: path, Sentences: p.sents, Properties: slices.Clone(pmbProps[:])}, nil
}

// isPMBComment reports whether a non-empty line is a comment: "#" alone or
// followed by a space or "#". Any other line is a token row, so that the
// token "#" ("#\t#\t...") is read as one.
func isPMBComment(line []byte) bool {
	return line[0] == '#' && (len(line) == 1 || line[1] == ' ' || line[1] == '#')
}

// comment handles a comment line.
func (p *pmbParser) comment(line []byte) error {
	if len(p.tokens) > 0 {
		return p.lr.errorf("comment line after token rows (a blank line must end each sentence)")
	}
	if v, ok := commentValue(line, "newdoc id"); ok {
		if p.hasText {
			return p.lr.errorf("newdoc comment after the sentence's raw sent comment")
		}
		p.doc, p.inDoc = string(v), 0
	} else if v, ok := commentValue(line, "raw sent"); ok {
		if p.hasText {
			return p.lr.errorf("second raw sent comment in one sentence")
		}
		p.text, p.hasText, p.line = string(v), true, p.lr.line
	}
	return nil
}

// end finishes the current block, if any, at a blank line or the end of
// the input.
func (p *pmbParser) end() error {
	if p.start == 0 {
		return nil
	}
	if len(p.tokens) == 0 {
		if p.hasText {
			return &ParseError{Path: p.lr.path, Line: p.line, Err: errors.New("sentence has no token rows")}
		}
	} else {
		p.inDoc++
		id := ""
		if p.doc != "" {
			id = p.doc + "#" + strconv.Itoa(p.inDoc)
		}
		props := make(map[string][]string, len(pmbProps))
		for i, name := range pmbProps {
			props[name] = slices.Clone(p.labels[i])
			p.labels[i] = p.labels[i][:0]
		}
		p.sents = append(p.sents, Sentence{
			ID:     id,
			Text:   p.text,
			File:   p.lr.path,
			Line:   p.line,
			Tokens: slices.Clone(p.tokens),
			Props:  props,
		})
	}
	p.start, p.line, p.text, p.hasText, p.tokens = 0, 0, "", false, p.tokens[:0]
	return nil
}
