package dataset

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
)

// Unknown is the label id of a row whose label was not seen when the label
// set was made (e.g. a tag that occurs in test but not in train). Probes
// never train on such rows; evaluation counts them as errors.
const Unknown int32 = -1

// Dataset is a labeled design matrix: row i of X has label Y[i] (an index
// into Labels, or Unknown) and, when known, the token text Tokens[i].
type Dataset struct {
	X      Matrix
	Y      []int32
	Labels []string
	Tokens []string
	// UnseenLabels names, in order of first appearance, the labels outside
	// Labels that Join found (their rows have Y = Unknown); see
	// UnseenCounts.
	UnseenLabels []string
	// unseen is, when UnseenLabels is non-empty, each row's index into it
	// (-1 for rows whose label is in Labels).
	unseen []int32
	// finite is the X that Join, or the making of this view of a dataset,
	// found or knew to be finite (nil if none): CheckFinite trusts it while
	// X is still that matrix.
	finite Matrix
}

// CheckFinite returns CheckFinite(d.X), without reading X again when d (or
// the dataset it is a Subset or Columns view of) was made by Join, which
// checked it, and X has not been replaced since.
func (d *Dataset) CheckFinite() error {
	if d.knownFinite() {
		return nil
	}
	return CheckFinite(d.X)
}

// knownFinite reports whether X is the matrix found or known finite.
func (d *Dataset) knownFinite() bool { return d.finite != nil && sameMatrix(d.finite, d.X) }

// sameMatrix reports whether a and b are the same matrix (false for
// matrices of a type that cannot be compared).
func sameMatrix(a, b Matrix) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// derived returns the finite mark for x, a view of d.X.
func (d *Dataset) derived(x Matrix) Matrix {
	if d.knownFinite() {
		return x
	}
	return nil
}

// Validate checks that the pieces agree in length and that labels are in
// range.
func (d *Dataset) Validate() error {
	rows, _ := d.X.Dims()
	if len(d.Y) != rows {
		return fmt.Errorf("dataset: %d labels for %d activation rows", len(d.Y), rows)
	}
	if d.Tokens != nil && len(d.Tokens) != rows {
		return fmt.Errorf("dataset: %d tokens for %d activation rows", len(d.Tokens), rows)
	}
	for i, y := range d.Y {
		if y != Unknown && (y < 0 || int(y) >= len(d.Labels)) {
			return fmt.Errorf("dataset: row %d has label id %d outside [0, %d)", i, y, len(d.Labels))
		}
	}
	return nil
}

// LabelSet maps label names to ids. Ids follow sorted order of the names
// (numerically when every name is an integer, e.g. word positions), so they
// do not depend on corpus order.
type LabelSet struct {
	Names []string
	index map[string]int32
}

// NewLabelSet collects the distinct labels of the given sequences.
func NewLabelSet(labels [][]string) *LabelSet {
	seen := map[string]bool{}
	for _, s := range labels {
		for _, l := range s {
			seen[l] = true
		}
	}
	names := make([]string, 0, len(seen))
	for l := range seen {
		names = append(names, l)
	}
	return LabelSetOf(names)
}

// LabelSetOf makes a label set of the given names (duplicates removed).
func LabelSetOf(names []string) *LabelSet {
	uniq := map[string]bool{}
	var ns []string
	for _, n := range names {
		if !uniq[n] {
			uniq[n] = true
			ns = append(ns, n)
		}
	}
	numeric := true
	for _, n := range ns {
		if _, err := strconv.Atoi(n); err != nil {
			numeric = false
			break
		}
	}
	sort.Slice(ns, func(i, j int) bool {
		if numeric {
			a, _ := strconv.Atoi(ns[i])
			b, _ := strconv.Atoi(ns[j])
			if a != b {
				return a < b
			}
		}
		return ns[i] < ns[j] // equal numbers ("1", "01", "+1") by their text
	})
	s := &LabelSet{Names: ns, index: make(map[string]int32, len(ns))}
	for i, n := range ns {
		s.index[n] = int32(i)
	}
	return s
}

// LabelSetInOrder makes a label set of distinct names in the order given
// (a saved probe's labels: label i is the probe's row i).
func LabelSetInOrder(names []string) (*LabelSet, error) {
	s := &LabelSet{Names: names, index: make(map[string]int32, len(names))}
	for i, n := range names {
		if _, dup := s.index[n]; dup {
			return nil, fmt.Errorf("label %q twice", n)
		}
		s.index[n] = int32(i)
	}
	return s, nil
}

// ID returns the id of a label name, or Unknown.
func (s *LabelSet) ID(name string) int32 {
	if id, ok := s.index[name]; ok {
		return id
	}
	return Unknown
}

// Aligned is a Matrix whose rows are the tokens of sentences, such as an
// activation file; *activations.Reader satisfies it.
type Aligned interface {
	Matrix
	NumSentences() int
	SentenceRange(i int) (start, end int)
	Tokens(i int) []string
}

// Join makes a Dataset from activations and a labeled corpus (per-sentence
// tokens and labels). The activations must cover exactly the corpus: the
// same number of sentences, and in each the same tokens; otherwise the error
// names the first differing sentence and token; and every activation must
// be finite (CheckFinite: the error names the first NaN or ±Inf). Labels
// are mapped with labels (make it from the training split and reuse it for
// dev and test).
func Join(acts Aligned, tokens, labels [][]string, set *LabelSet) (*Dataset, error) {
	if len(tokens) != len(labels) {
		return nil, fmt.Errorf("corpus has %d token sentences but %d label sentences", len(tokens), len(labels))
	}
	if acts.NumSentences() != len(tokens) {
		return nil, fmt.Errorf("activations hold %d sentences, corpus has %d", acts.NumSentences(), len(tokens))
	}
	rows, _ := acts.Dims()
	d := &Dataset{X: acts, Labels: set.Names, Y: make([]int32, 0, rows), Tokens: make([]string, 0, rows)}
	unseenIDs := map[string]int32{}
	for i, sent := range tokens {
		if len(labels[i]) != len(sent) {
			return nil, fmt.Errorf("sentence %d: %d tokens but %d labels", i, len(sent), len(labels[i]))
		}
		start, end := acts.SentenceRange(i)
		if end-start != len(sent) {
			return nil, fmt.Errorf("sentence %d: activations have %d tokens, corpus has %d (%q...)", i, end-start, len(sent), head(sent))
		}
		at := acts.Tokens(i)
		for j, w := range sent {
			if at[j] != w {
				return nil, fmt.Errorf("sentence %d token %d: activations have %q, corpus has %q", i, j, at[j], w)
			}
			d.Y = append(d.Y, set.ID(labels[i][j]))
			d.Tokens = append(d.Tokens, w)
			d.noteUnseen(labels[i][j], unseenIDs)
		}
	}
	if len(d.Y) != rows {
		return nil, fmt.Errorf("activations hold %d token rows, corpus %d tokens", rows, len(d.Y))
	}
	if err := CheckFinite(acts); err != nil {
		return nil, err
	}
	d.finite = acts
	return d, nil
}

// noteUnseen records the label of the row just appended when it is
// outside the label set (ids: the index of each unseen name).
func (d *Dataset) noteUnseen(label string, ids map[string]int32) {
	row := len(d.Y) - 1
	if d.Y[row] != Unknown {
		if d.unseen != nil {
			d.unseen = append(d.unseen, -1)
		}
		return
	}
	if d.unseen == nil {
		d.unseen = make([]int32, row, cap(d.Y))
		for i := range d.unseen {
			d.unseen[i] = -1
		}
	}
	id, ok := ids[label]
	if !ok {
		id = int32(len(d.UnseenLabels))
		ids[label] = id
		d.UnseenLabels = append(d.UnseenLabels, label)
	}
	d.unseen = append(d.unseen, id)
}

// UnseenCounts returns how many rows carry each of UnseenLabels (0 for a
// name that a Subset left without rows).
func (d *Dataset) UnseenCounts() []int {
	c := make([]int, len(d.UnseenLabels))
	for _, u := range d.unseen {
		if u >= 0 {
			c[u]++
		}
	}
	return c
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// Subset returns the rows in spans as a new Dataset (a view: X is not
// copied).
func (d *Dataset) Subset(spans []Span) (*Dataset, error) {
	x, err := Rows(d.X, spans)
	if err != nil {
		return nil, err
	}
	out := &Dataset{X: x, Labels: d.Labels, UnseenLabels: d.UnseenLabels, finite: d.derived(x)}
	for _, s := range spans {
		out.Y = append(out.Y, d.Y[s.Start:s.End]...)
		if d.Tokens != nil {
			out.Tokens = append(out.Tokens, d.Tokens[s.Start:s.End]...)
		}
		if d.unseen != nil {
			out.unseen = append(out.unseen, d.unseen[s.Start:s.End]...)
		}
	}
	return out, nil
}

// WithLabels returns a copy of d (the same X and tokens) whose rows carry
// the labels y of the set labels instead: every row labeled, so none of
// UnseenLabels.
func (d *Dataset) WithLabels(labels []string, y []int32) *Dataset {
	c := *d
	c.Labels, c.Y, c.UnseenLabels, c.unseen = labels, y, nil, nil
	return &c
}

// WithX returns a copy of d whose design matrix is x (e.g. a column view);
// x must have the same number of rows.
func (d *Dataset) WithX(x Matrix) (*Dataset, error) {
	rows, _ := x.Dims()
	if rows != len(d.Y) {
		return nil, fmt.Errorf("dataset: view has %d rows, labels %d", rows, len(d.Y))
	}
	c := *d
	c.X, c.finite = x, nil
	return &c, nil
}

// Columns returns d restricted to the neurons cols (a view; see Columns
// for matrices).
func (d *Dataset) Columns(cols []int) (*Dataset, error) {
	x, err := Columns(d.X, cols)
	if err != nil {
		return nil, err
	}
	c, err := d.WithX(x)
	if err != nil {
		return nil, err
	}
	c.finite = d.derived(x)
	return c, nil
}

// HoldOut splits rows [0, n) into contiguous blocks and assigns a seeded
// random fraction frac of the blocks to the held-out side. Blocks are of
// maxBlockRows rows, fewer where n holds fewer than 20 such blocks (then
// n/20 rows, at least 1), so that small n are split near frac too. Blocks
// keep neighbouring tokens (the same sentence) on one side. Both results
// are sorted and together cover [0, n) exactly; held is empty only when
// frac is 0 or n < 2.
func HoldOut(n, maxBlockRows int, frac float64, seed uint64) (keep, held []Span) {
	blockRows := min(maxBlockRows, max(1, n/20))
	blocks := (n + blockRows - 1) / blockRows
	nHeld := int(float64(blocks)*frac + 0.5)
	if frac > 0 && nHeld == 0 && blocks > 1 {
		nHeld = 1
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	isHeld := make([]bool, blocks)
	for _, b := range r.Perm(blocks)[:nHeld] {
		isHeld[b] = true
	}
	for b := 0; b < blocks; b++ {
		s := Span{b * blockRows, min((b+1)*blockRows, n)}
		if isHeld[b] {
			held = appendSpan(held, s)
		} else {
			keep = appendSpan(keep, s)
		}
	}
	return keep, held
}

func appendSpan(spans []Span, s Span) []Span {
	if k := len(spans); k > 0 && spans[k-1].End == s.Start {
		spans[k-1].End = s.End
		return spans
	}
	return append(spans, s)
}

// Counts returns how many rows carry each label (Unknown rows excluded).
func (d *Dataset) Counts() []int {
	c := make([]int, len(d.Labels))
	for _, y := range d.Y {
		if y != Unknown {
			c[y]++
		}
	}
	return c
}
