package corpus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ReadNeuroX reads a corpus in NeuroX's text format: the tokens of one
// sentence per line in the file tokensPath and their labels for property,
// line by line, in labelsPath (either may be gzipped). Line i of both files
// must hold the same number of fields, both files the same number of
// lines, and no line may be empty; any mismatch is a *ParseError naming
// both files and the line. property must be non-empty, free of white
// space, and not the name of a derived property.
func ReadNeuroX(tokensPath, labelsPath, property string) (*Corpus, error) {
	if property == "" || strings.ContainsFunc(property, IsSpace) {
		return nil, fmt.Errorf("corpus: invalid property name %q", property)
	}
	if _, ok := derived[property]; ok {
		return nil, fmt.Errorf("corpus: property %q is derived; it cannot be read from %s", property, labelsPath)
	}
	tf, err := os.Open(tokensPath)
	if err != nil {
		return nil, err
	}
	defer tf.Close()
	lf, err := os.Open(labelsPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	return parseNeuroX(tf, tokensPath, lf, labelsPath, property)
}

// parseNeuroX reads NeuroX text from tr and lr, named tokensPath and
// labelsPath in errors.
func parseNeuroX(tr io.Reader, tokensPath string, lr io.Reader, labelsPath string, property string) (*Corpus, error) {
	toks, err := newLineReader(tr, tokensPath)
	if err != nil {
		return nil, err
	}
	labs, err := newLineReader(lr, labelsPath)
	if err != nil {
		return nil, err
	}
	in := make(interner)
	var sents []Sentence
	for {
		okT, okL := toks.scan(), labs.scan()
		if toks.err != nil {
			return nil, toks.err
		}
		if labs.err != nil {
			return nil, labs.err
		}
		if !okT && !okL {
			break
		}
		if okT != okL {
			long, short := toks, labs
			if okL {
				long, short = labs, toks
			}
			return nil, long.errorf("line has no counterpart: %s ends after line %d", short.path, short.line)
		}
		tokens := fields(toks.bytes(), in)
		labels := fields(labs.bytes(), in)
		switch {
		case len(tokens) == 0 && len(labels) == 0:
			return nil, toks.errorf("empty sentence (and %s:%d is empty)", labelsPath, labs.line)
		case len(tokens) != len(labels):
			return nil, toks.errorf("%d tokens, but %s:%d has %d labels", len(tokens), labelsPath, labs.line, len(labels))
		}
		sents = append(sents, Sentence{
			File:   tokensPath,
			Line:   toks.line,
			Tokens: tokens,
			Props:  map[string][]string{property: labels},
		})
	}
	if len(sents) == 0 {
		return nil, &ParseError{Path: tokensPath, Err: errors.New("no sentences")}
	}
	return &Corpus{Path: tokensPath, Sentences: sents, Properties: []string{property}}, nil
}

// ReadTokens reads a NeuroX tokens file alone (possibly gzipped): the
// tokens of one sentence per line, separated by white space as Python's
// str.split() separates them. An empty line is a *ParseError naming it. The
// corpus has no properties. As in ReadNeuroX, lines end at "\n" (a "\r"
// before it dropped); a lone "\r" inside a line separates tokens, where
// Python's universal newlines would end the line.
func ReadTokens(path string) (*Corpus, error) {
	return readFile(path, ParseTokens)
}

// ParseTokens is ReadTokens of r (standard input, say), named path in
// errors.
func ParseTokens(r io.Reader, path string) (*Corpus, error) {
	lr, err := newLineReader(r, path)
	if err != nil {
		return nil, err
	}
	in := make(interner)
	var sents []Sentence
	for lr.scan() {
		tokens := fields(lr.bytes(), in)
		if len(tokens) == 0 {
			return nil, lr.errorf("empty sentence")
		}
		sents = append(sents, Sentence{File: path, Line: lr.line, Tokens: tokens})
	}
	if lr.err != nil {
		return nil, lr.err
	}
	if len(sents) == 0 {
		return nil, &ParseError{Path: path, Err: errors.New("no sentences")}
	}
	return &Corpus{Path: path, Sentences: sents}, nil
}

// IsSpace reports whether Python's str.split() splits at r: Go's Unicode
// white space and the ASCII separators U+001C to U+001F.
func IsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// fields splits line at white space (IsSpace) into interned strings.
func fields(line []byte, in interner) []string {
	fs := bytes.FieldsFunc(line, IsSpace)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = in.get(f)
	}
	return out
}

// WriteNeuroX writes c in NeuroX's text format: the tokens of each
// sentence as one line of tokens, and its labels for property as one line
// of labels, separated by single spaces. It writes nothing and returns an
// error when the corpus lacks the property or a sentence would not read
// back as written: it has no tokens, or a token or label is empty,
// contains white space or is not UTF-8.
func WriteNeuroX(tokens, labels io.Writer, c *Corpus, property string) error {
	all, err := c.Labels(property)
	if err != nil {
		return err
	}
	for i := range c.Sentences {
		s := &c.Sentences[i]
		if len(s.Tokens) == 0 {
			return s.errorf("sentence has no tokens")
		}
		if err := checkFields(s, "token", s.Tokens); err != nil {
			return err
		}
		if err := checkFields(s, property+" label", all[i]); err != nil {
			return err
		}
	}
	tw, lw := bufio.NewWriter(tokens), bufio.NewWriter(labels)
	for i := range c.Sentences {
		writeLine(tw, c.Sentences[i].Tokens)
		writeLine(lw, all[i])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return lw.Flush()
}

// checkFields returns an error if a field is empty, contains white space
// or is not UTF-8.
func checkFields(s *Sentence, what string, fs []string) error {
	for i, f := range fs {
		if f == "" || strings.ContainsFunc(f, IsSpace) || !utf8.ValidString(f) {
			return s.errorf("%s %d %q is empty, contains white space or is not UTF-8", what, i, f)
		}
	}
	return nil
}

// writeLine writes fs separated by spaces and ends the line. Write errors
// are sticky in a bufio.Writer and reported by Flush.
func writeLine(w *bufio.Writer, fs []string) {
	for i, f := range fs {
		if i > 0 {
			w.WriteByte(' ')
		}
		w.WriteString(f)
	}
	w.WriteByte('\n')
}
