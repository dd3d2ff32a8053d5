package crosscorr

import (
	"fmt"
	"strconv"
	"strings"
)

// Source is one model's activations over a token stream: NumTokens rows of
// NumNeurons float32 values. *activations.Reader implements it.
type Source interface {
	// NumTokens is the number of rows (tokens).
	NumTokens() int
	// NumNeurons is the width of a row.
	NumNeurons() int
	// ReadRows copies rows [start, start+n) into dst (n·NumNeurons values,
	// row-major).
	ReadRows(start, n int, dst []float32) error
}

// Subset is implemented by sources that hold some of a model's neurons
// (a selection of layers): Neuron returns the model's index of column i.
// Warnings name neurons by it.
type Subset interface {
	Neuron(i int) int
}

// Sentences is implemented by sources that know the sentences and token
// strings behind their rows (*activations.Reader does). CheckAligned uses it
// to verify that several models saw the same text. A source whose
// NumSentences is 0 while it has tokens carries no sentence information.
type Sentences interface {
	// NumSentences is the number of sentences.
	NumSentences() int
	// SentenceRange returns the rows [start, end) of sentence i.
	SentenceRange(i int) (start, end int)
	// Tokens returns the token strings of sentence i.
	Tokens(i int) []string
}

// RowViewer is implemented by sources that can expose rows already in
// memory (an in-memory matrix, a memory-mapped float32 file) without
// copying. On a backend that implements engine.HostMemory the correlation
// passes then read the rows in place. A source whose ViewRows copies at
// times (an activation file stored as float16, or not memory-mapped) says
// so by a method Viewable() bool reporting false; its rows are then read
// into the correlation's own buffers, as any Source's, so that the memory
// budget holds.
type RowViewer interface {
	// ViewRows returns rows [start, start+n) as n·NumNeurons row-major
	// values that the caller must not modify.
	ViewRows(start, n int) ([]float32, error)
}

// Model is one model's activations and the name used in messages and
// reports.
type Model struct {
	Name   string
	Source Source
}

// Memory is an in-memory Source (with RowViewer and Sentences): tokens ×
// neurons float32 activations, row-major, and optionally the sentences they
// came from.
type Memory struct {
	data            []float32
	tokens, neurons int
	sents           [][]string
	starts          []int // row of the first token of each sentence, plus tokens
}

// NewMemory returns a Memory over data (tokens·neurons values, not copied).
// sentences, if non-nil, gives the token strings of consecutive sentences
// covering all rows.
func NewMemory(data []float32, tokens, neurons int, sentences [][]string) (*Memory, error) {
	if tokens < 0 || neurons < 0 || len(data) != tokens*neurons {
		return nil, fmt.Errorf("crosscorr: %d values are not %d tokens × %d neurons", len(data), tokens, neurons)
	}
	m := &Memory{data: data, tokens: tokens, neurons: neurons}
	if sentences != nil {
		m.sents = sentences
		m.starts = make([]int, len(sentences)+1)
		for i, s := range sentences {
			m.starts[i+1] = m.starts[i] + len(s)
		}
		if m.starts[len(sentences)] != tokens {
			return nil, fmt.Errorf("crosscorr: sentences hold %d tokens, activations %d", m.starts[len(sentences)], tokens)
		}
	}
	return m, nil
}

// NumTokens is the number of rows.
func (m *Memory) NumTokens() int { return m.tokens }

// NumNeurons is the width of a row.
func (m *Memory) NumNeurons() int { return m.neurons }

// ReadRows copies rows [start, start+n) into dst.
func (m *Memory) ReadRows(start, n int, dst []float32) error {
	v, err := m.ViewRows(start, n)
	if err != nil {
		return err
	}
	if len(dst) != len(v) {
		return fmt.Errorf("crosscorr: ReadRows into %d values, need %d", len(dst), len(v))
	}
	copy(dst, v)
	return nil
}

// ViewRows returns rows [start, start+n) without copying.
func (m *Memory) ViewRows(start, n int) ([]float32, error) {
	if start < 0 || n < 0 || start+n > m.tokens {
		return nil, fmt.Errorf("crosscorr: rows [%d, %d) outside [0, %d)", start, start+n, m.tokens)
	}
	return m.data[start*m.neurons : (start+n)*m.neurons], nil
}

// NumSentences is the number of sentences (0 when none were given).
func (m *Memory) NumSentences() int { return len(m.sents) }

// SentenceRange returns the rows of sentence i.
func (m *Memory) SentenceRange(i int) (start, end int) { return m.starts[i], m.starts[i+1] }

// Tokens returns the token strings of sentence i.
func (m *Memory) Tokens(i int) []string { return m.sents[i] }

// CheckAligned verifies that all models cover the same tokens: the same
// number of rows and, for every two models that both carry sentence
// information, the same sentence boundaries and token strings. The error
// names the first differing sentence, its index and the differing tokens.
// It also rejects models without tokens or neurons, and fewer than two
// models.
func CheckAligned(models []Model) error {
	if len(models) < 2 {
		return fmt.Errorf("crosscorr: need at least 2 models, have %d", len(models))
	}
	for _, m := range models {
		if m.Source == nil {
			return fmt.Errorf("crosscorr: model %q has no source", m.Name)
		}
		if m.Source.NumNeurons() <= 0 {
			return fmt.Errorf("crosscorr: model %q has no neurons", m.Name)
		}
	}
	first := models[0]
	t := first.Source.NumTokens()
	if t <= 0 {
		return fmt.Errorf("crosscorr: model %q has no tokens", first.Name)
	}
	for _, m := range models[1:] {
		if n := m.Source.NumTokens(); n != t {
			return fmt.Errorf("crosscorr: models cover different tokens: %q has %d, %q has %d", first.Name, t, m.Name, n)
		}
	}
	var ref *Model
	var refS Sentences
	for i := range models {
		s, ok := models[i].Source.(Sentences)
		if !ok || s.NumSentences() == 0 {
			continue
		}
		if ref == nil {
			ref, refS = &models[i], s
			continue
		}
		if err := sameSentences(ref.Name, refS, models[i].Name, s); err != nil {
			return err
		}
	}
	return nil
}

func sameSentences(na string, a Sentences, nb string, b Sentences) error {
	sa, sb := a.NumSentences(), b.NumSentences()
	for i := range min(sa, sb) {
		a0, a1 := a.SentenceRange(i)
		b0, b1 := b.SentenceRange(i)
		ta, tb := a.Tokens(i), b.Tokens(i)
		pos := -1
		for k := range min(len(ta), len(tb)) {
			if ta[k] != tb[k] {
				pos = k
				break
			}
		}
		if pos < 0 && len(ta) != len(tb) {
			pos = min(len(ta), len(tb))
		}
		if pos < 0 && a0 == b0 && a1 == b1 {
			continue
		}
		where := fmt.Sprintf("rows [%d, %d) vs [%d, %d)", a0, a1, b0, b1)
		if pos >= 0 {
			where = fmt.Sprintf("token %d: %s vs %s", pos, tokenAt(ta, pos), tokenAt(tb, pos))
		}
		return fmt.Errorf("crosscorr: models %q and %q differ at sentence %d (%s): %s vs %s",
			na, nb, i, where, quoteTokens(ta), quoteTokens(tb))
	}
	if sa != sb {
		return fmt.Errorf("crosscorr: models %q and %q differ at sentence %d: %q has %d sentences, %q has %d",
			na, nb, min(sa, sb), na, sa, nb, sb)
	}
	return nil
}

func tokenAt(t []string, i int) string {
	if i >= len(t) {
		return "(end of sentence)"
	}
	return strconv.Quote(t[i])
}

// quoteTokens renders a sentence for an error message, shortened to its
// first 20 tokens.
func quoteTokens(t []string) string {
	const most = 20
	q := make([]string, 0, min(len(t), most)+1)
	for i, s := range t {
		if i == most {
			q = append(q, fmt.Sprintf("… (%d tokens)", len(t)))
			break
		}
		q = append(q, strconv.Quote(s))
	}
	return "[" + strings.Join(q, " ") + "]"
}
