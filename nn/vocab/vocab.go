// Package vocab maps tokens to the integer ids of grain's models: the
// vocabulary with its four special tokens, built from training text with a
// frequency cut-off and saved with the model, the reader of tokenized text
// files, and the normalisation that turns a labeled corpus's tokens into
// the tokenized, lower-cased Multi30k form the models are trained on.
package vocab

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/grainlab/grain/analysis/corpus"
)

// The special tokens and their ids, the first four of every vocabulary.
const (
	Unk int32 = iota // <unk>: any token not in the vocabulary
	BOS              // <s>: start of a target sentence
	EOS              // </s>: end of a target sentence
	Pad              // <pad>: padding (never a target)
)

// Specials are the special tokens in id order.
var Specials = []string{"<unk>", "<s>", "</s>", "<pad>"}

// Vocab is a vocabulary: ids 0–3 are Specials, then the words.
type Vocab struct {
	words []string
	index map[string]int32
}

// Build makes a vocabulary of the tokens that occur at least minCount
// times in sentences (minCount < 1 counts as 1), most frequent first, ties
// in byte order, keeping at most maxWords words (0: no limit). Special
// tokens in the text are not words of their own.
func Build(sentences [][]string, minCount, maxWords int) *Vocab {
	counts := map[string]int{}
	for _, s := range sentences {
		for _, w := range s {
			counts[w]++
		}
	}
	for _, s := range Specials {
		delete(counts, s)
	}
	var words []string
	for w, c := range counts {
		if c >= max(minCount, 1) {
			words = append(words, w)
		}
	}
	slices.SortFunc(words, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if maxWords > 0 && len(words) > maxWords {
		words = words[:maxWords]
	}
	v, _ := New(append(slices.Clone(Specials), words...))
	return v
}

// New makes a vocabulary from its full word list, which must start with
// Specials and hold no word twice, no empty word and no white space.
func New(words []string) (*Vocab, error) {
	if len(words) < len(Specials) || !slices.Equal(words[:len(Specials)], Specials) {
		return nil, fmt.Errorf("vocab: the first %d words must be %v", len(Specials), Specials)
	}
	v := &Vocab{words: slices.Clone(words), index: make(map[string]int32, len(words))}
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\r\n") || !utf8.ValidString(w) {
			return nil, fmt.Errorf("vocab: word %d (%q) is empty, has white space or is not UTF-8", i, w)
		}
		if _, dup := v.index[w]; dup {
			return nil, fmt.Errorf("vocab: word %d (%q) repeats an earlier word", i, w)
		}
		v.index[w] = int32(i)
	}
	return v, nil
}

// Len is the number of ids, specials included.
func (v *Vocab) Len() int { return len(v.words) }

// ID returns w's id, or Unk.
func (v *Vocab) ID(w string) int32 {
	if id, ok := v.index[w]; ok {
		return id
	}
	return Unk
}

// Has reports whether w is in the vocabulary.
func (v *Vocab) Has(w string) bool { _, ok := v.index[w]; return ok }

// Word returns the word of id; it panics if id is out of range.
func (v *Vocab) Word(id int32) string { return v.words[id] }

// Encode maps tokens to ids.
func (v *Vocab) Encode(tokens []string) []int32 {
	ids := make([]int32, len(tokens))
	for i, w := range tokens {
		ids[i] = v.ID(w)
	}
	return ids
}

// Decode maps ids to words, stopping before the first EOS.
func (v *Vocab) Decode(ids []int32) []string {
	var out []string
	for _, id := range ids {
		if id == EOS {
			break
		}
		out = append(out, v.words[id])
	}
	return out
}

// String is the vocabulary's file form: one word per line, in id order.
func (v *Vocab) String() string { return strings.Join(v.words, "\n") + "\n" }

// Parse reads the file form written by String; what names the source in
// errors.
func Parse(s, what string) (*Vocab, error) {
	words := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	v, err := New(words)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// ReadTokenized reads a tokenized text file, one sentence per line, tokens
// separated by white space (single spaces in Multi30k's tok files; any of
// Python's str.split() white space, corpus.IsSpace, as in the corpora),
// as corpus.ReadTokens reads it (gzipped or not, a byte order mark
// skipped). An empty line is an error naming the file and line: it would
// be a sentence without tokens.
func ReadTokenized(path string) ([][]string, error) {
	c, err := corpus.ReadTokens(path)
	if err != nil {
		return nil, err
	}
	return c.Tokens(), nil
}

// ParseTokenized is ReadTokenized of r (standard input, say), named name in
// errors.
func ParseTokenized(r io.Reader, name string) ([][]string, error) {
	c, err := corpus.ParseTokens(r, name)
	if err != nil {
		return nil, err
	}
	return c.Tokens(), nil
}

// mosesEscapes are the XML escapes of the Moses tokenizer that remain in
// Multi30k's tok files.
var mosesEscapes = strings.NewReplacer(
	"&", "&amp;", "|", "&#124;", "<", "&lt;", ">", "&gt;",
	"'", "&apos;", `"`, "&quot;", "[", "&#91;", "]", "&#93;",
)

// Normalize maps a token of a labeled corpus (UD, PMB) to the form of the
// models' training text: lower-cased, with the Moses tokenizer's XML
// escapes (' → &apos;, " → &quot;, & → &amp; …). A PMB multiword token
// (New~York) stays one token. The corpus keeps its original tokens; only
// the ids come from the normalised form.
func Normalize(token string) string {
	return mosesEscapes.Replace(strings.ToLower(token))
}
