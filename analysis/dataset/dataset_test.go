package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func randDense(rows, cols int, seed uint64) *Dense {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &Dense{Data: make([]float32, rows*cols), Rows: rows, Cols: cols}
	for i := range d.Data {
		d.Data[i] = float32(r.NormFloat64())
	}
	return d
}

func read(t *testing.T, m Matrix) []float32 {
	t.Helper()
	rows, cols := m.Dims()
	out := make([]float32, rows*cols)
	// Read in uneven blocks to exercise block boundaries.
	for s := 0; s < rows; {
		n := min(7, rows-s)
		if err := m.ReadRows(s, n, out[s*cols:(s+n)*cols]); err != nil {
			t.Fatal(err)
		}
		s += n
	}
	return out
}

func TestColumnViews(t *testing.T) {
	d := randDense(23, 9, 1)
	keep := []int{8, 0, 3}
	c, err := Columns(d, keep)
	if err != nil {
		t.Fatal(err)
	}
	got := read(t, c)
	for i := 0; i < 23; i++ {
		for k, j := range keep {
			if got[i*3+k] != d.Data[i*9+j] {
				t.Fatalf("Columns[%d,%d]", i, k)
			}
		}
	}
	w, _ := WithoutColumns(d, []int{1, 2, 4, 5, 6, 7})
	if r, c := w.Dims(); r != 23 || c != 3 {
		t.Fatalf("WithoutColumns dims %d×%d", r, c)
	}
	wv := read(t, w)
	for i := 0; i < 23; i++ {
		if wv[i*3] != d.Data[i*9] || wv[i*3+2] != d.Data[i*9+8] {
			t.Fatalf("WithoutColumns row %d", i)
		}
	}
	z, _ := ZeroColumns(d, []int{2, 5})
	k, _ := KeepOnlyColumns(d, Complement([]int{2, 5}, 9))
	zv, kv := read(t, z), read(t, k)
	for i, v := range zv {
		j := i % 9
		want := d.Data[i]
		if j == 2 || j == 5 {
			want = 0
		}
		if v != want || kv[i] != want {
			t.Fatalf("zeroed [%d] = %g / %g, want %g", i, v, kv[i], want)
		}
	}
	for _, bad := range [][]int{{9}, {-1}, {3, 3}} {
		if _, err := Columns(d, bad); err == nil {
			t.Errorf("Columns(%v) accepted", bad)
		}
		if _, err := ZeroColumns(d, bad); err == nil {
			t.Errorf("ZeroColumns(%v) accepted", bad)
		}
	}
	if err := d.ReadRows(20, 5, make([]float32, 45)); err == nil {
		t.Error("read past the end accepted")
	}
}

func TestRowSpansAndHoldOut(t *testing.T) {
	d := randDense(1000, 4, 2)
	keep, held := HoldOut(1000, 64, 0.2, 3)
	n := 0
	covered := make([]bool, 1000)
	for _, s := range append(append([]Span(nil), keep...), held...) {
		for i := s.Start; i < s.End; i++ {
			if covered[i] {
				t.Fatalf("row %d in two spans", i)
			}
			covered[i] = true
			n++
		}
	}
	if n != 1000 {
		t.Fatalf("spans cover %d rows", n)
	}
	heldRows := SpanRows(held)
	if heldRows < 128 || heldRows > 256 {
		t.Fatalf("held out %d rows for 20%% of 16 blocks", heldRows)
	}
	v, err := Rows(d, held)
	if err != nil {
		t.Fatal(err)
	}
	got := read(t, v)
	i := 0
	for _, s := range held {
		for r := s.Start; r < s.End; r++ {
			for c := 0; c < 4; c++ {
				if got[i*4+c] != d.Data[r*4+c] {
					t.Fatalf("span row %d", r)
				}
			}
			i++
		}
	}
	k2, h2 := HoldOut(1000, 64, 0.2, 3)
	if len(k2) != len(keep) || len(h2) != len(held) || h2[0] != held[0] {
		t.Fatal("HoldOut not deterministic")
	}
}

// aligned is an in-memory Aligned for Join tests.
type aligned struct {
	*Dense
	sents [][]string
	off   []int
}

func (a *aligned) NumSentences() int              { return len(a.sents) }
func (a *aligned) SentenceRange(i int) (int, int) { return a.off[i], a.off[i+1] }
func (a *aligned) Tokens(i int) []string          { return a.sents[i] }

func newAligned(sents [][]string) *aligned {
	a := &aligned{sents: sents, off: []int{0}}
	for _, s := range sents {
		a.off = append(a.off, a.off[len(a.off)-1]+len(s))
	}
	a.Dense = randDense(a.off[len(sents)], 3, 4)
	return a
}

func TestJoin(t *testing.T) {
	toks := [][]string{{"the", "cat"}, {"sat", "on", "it"}}
	labs := [][]string{{"DT", "NN"}, {"VBD", "IN", "PRP"}}
	set := NewLabelSet(labs[:1])
	d, err := Join(newAligned(toks), toks, labs, set)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Y) != 5 || d.Y[0] != set.ID("DT") || d.Y[2] != Unknown || d.Tokens[3] != "on" {
		t.Fatalf("joined %+v", d)
	}
	// The labels outside the set are named and counted, also in a subset.
	if !slices.Equal(d.UnseenLabels, []string{"VBD", "IN", "PRP"}) || !slices.Equal(d.UnseenCounts(), []int{1, 1, 1}) {
		t.Fatalf("unseen %q %v", d.UnseenLabels, d.UnseenCounts())
	}
	if sub, err := d.Subset([]Span{{0, 2}, {3, 5}}); err != nil || !slices.Equal(sub.UnseenCounts(), []int{0, 1, 1}) {
		t.Fatalf("subset's unseen counts %v, %v", sub.UnseenCounts(), err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		acts [][]string
		toks [][]string
		labs [][]string
		want string
	}{
		{toks, toks, [][]string{{"DT"}, labs[1]}, "sentence 0: 2 tokens but 1 labels"},
		{toks[:1], toks, labs, "activations hold 1 sentences, corpus has 2"},
		{[][]string{{"the", "dog"}, toks[1]}, toks, labs, `sentence 0 token 1: activations have "dog", corpus has "cat"`},
		{[][]string{{"the"}, {"cat", "sat", "on", "it"}}, toks, labs, "sentence 0: activations have 1 tokens"},
	}
	for _, c := range cases {
		if _, err := Join(newAligned(c.acts), c.toks, c.labs, set); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Join error %v, want %q", err, c.want)
		}
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		a := newAligned(toks)
		a.Data[3*a.Cols+1] = bad
		want := fmt.Sprintf("non-finite activation %g at token row 3, neuron 1", bad)
		if _, err := Join(a, toks, labs, set); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Join with %g: error %v, want %q", bad, err, want)
		}
	}
}

func TestLabelSetOrder(t *testing.T) {
	s := LabelSetOf([]string{"10", "2", "1", "2"})
	if strings.Join(s.Names, ",") != "1,2,10" {
		t.Fatalf("numeric labels sorted as %v", s.Names)
	}
	// Equal numbers go by their text, whatever the order they came in.
	for _, in := range [][]string{{"1", "01", "+1", "0"}, {"+1", "0", "01", "1"}, {"01", "1", "0", "+1"}} {
		if s := LabelSetOf(in); strings.Join(s.Names, ",") != "0,+1,01,1" {
			t.Fatalf("labels %q sorted as %v", in, s.Names)
		}
	}
	if s, err := LabelSetInOrder([]string{"VB", "NN", "DT"}); err != nil || s.ID("VB") != 0 || s.ID("DT") != 2 || s.ID("JJ") != Unknown {
		t.Fatalf("label set in the given order: %+v, %v", s, err)
	}
	if _, err := LabelSetInOrder([]string{"VB", "NN", "VB"}); err == nil || !strings.Contains(err.Error(), `"VB" twice`) {
		t.Fatalf("duplicate label: %v", err)
	}
	s = LabelSetOf([]string{"VB", "NN", "DT"})
	if strings.Join(s.Names, ",") != "DT,NN,VB" || s.ID("NN") != 1 || s.ID("XX") != Unknown {
		t.Fatalf("labels %v", s.Names)
	}
}

func TestCheckFinite(t *testing.T) {
	d := randDense(50, 6, 5)
	if err := CheckFinite(d); err != nil {
		t.Fatal(err)
	}
	d.Data[33*6+4] = float32(math.NaN())
	if err := CheckFinite(d); err == nil || !strings.Contains(err.Error(), "token row 33, neuron 4") {
		t.Fatalf("CheckFinite: %v", err)
	}
	// A large Dense is split among the cores (at least 2 here): the first
	// non-finite value is reported whichever part holds it, and the same
	// through a view, which is read block by block.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	big := randDense(9000, 5, 6)
	if err := CheckFinite(big); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]int{{8999, 4}, {4500, 0}, {2, 3}} {
		big.Data[bad[0]*5+bad[1]] = float32(math.Inf(1))
		want := fmt.Sprintf("+Inf at token row %d, neuron %d", bad[0], bad[1])
		view, _ := Rows(big, []Span{{0, 9000}})
		for _, m := range []Matrix{big, view} {
			if err := CheckFinite(m); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("CheckFinite(%T) = %v, want %q", m, err, want)
			}
		}
	}
}

// countingAligned counts the rows read through it.
type countingAligned struct {
	*aligned
	rows int
}

func (c *countingAligned) ReadRows(start, n int, dst []float32) error {
	c.rows += n
	return c.aligned.ReadRows(start, n, dst)
}

// TestDatasetCheckFiniteTrustsJoin: a dataset made by Join, and its Subset
// and Columns views, are not read again by CheckFinite; a replaced X is.
func TestDatasetCheckFiniteTrustsJoin(t *testing.T) {
	toks := [][]string{{"the", "cat"}, {"sat", "on", "it"}}
	labs := [][]string{{"DT", "NN"}, {"VBD", "IN", "PRP"}}
	acts := &countingAligned{aligned: newAligned(toks)}
	d, err := Join(acts, toks, labs, NewLabelSet(labs))
	if err != nil {
		t.Fatal(err)
	}
	if acts.rows != 5 {
		t.Fatalf("Join read %d rows, want 5", acts.rows)
	}
	sub, err := d.Subset([]Span{{1, 4}})
	if err != nil {
		t.Fatal(err)
	}
	cols, err := d.Columns([]int{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Dataset{d, sub, cols} {
		if err := x.CheckFinite(); err != nil {
			t.Fatal(err)
		}
	}
	if acts.rows != 5 {
		t.Fatalf("CheckFinite of Join's dataset and its views read %d more rows", acts.rows-5)
	}
	// A replaced design matrix is checked again, and a NaN in it found.
	bad := randDense(5, 3, 9)
	bad.Data[7] = float32(math.NaN())
	other, _ := d.WithX(bad)
	d.X = bad
	for _, x := range []*Dataset{other, d} {
		if err := x.CheckFinite(); err == nil || !strings.Contains(err.Error(), "token row 2, neuron 1") {
			t.Fatalf("replaced X: CheckFinite = %v", err)
		}
	}
}

// TestHoldOutSmall: small row counts are held out near the fraction asked
// for too (blocks shrink to make at least 20), and only n < 2 holds none.
func TestHoldOutSmall(t *testing.T) {
	for n := 1; n <= 6000; n += 1 + n/50 {
		keep, held := HoldOut(n, 256, 0.1, 7)
		h := SpanRows(held)
		if SpanRows(keep)+h != n || (n >= 2) != (h > 0) {
			t.Fatalf("n = %d: keep %v, held %v", n, keep, held)
		}
		if f := float64(h) / float64(n); n >= 20 && (f < 0.05 || f > 0.16) {
			t.Errorf("n = %d: held out %d rows (%.3f), want about 10%%", n, h, f)
		}
	}
}

// TestReadRowsParallel reads 5 MiB-and-more blocks on 4 goroutines from a
// Dense and from row-span, zeroed and column views of it: the same values
// as ReadRows; out-of-range reads fail.
func TestReadRowsParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	d := randDense(3001, 1500, 7)
	spans, err := Rows(d, []Span{{5, 900}, {1000, 2999}})
	if err != nil {
		t.Fatal(err)
	}
	zero, err := ZeroColumns(spans, []int{0, 7, 1499})
	if err != nil {
		t.Fatal(err)
	}
	cols2, err := Columns(zero, []int{3, 2, 1, 1498})
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]Matrix{"dense": d, "spans": spans, "zeroed": zero, "columns": cols2} {
		rs, cs := m.Dims()
		if name != "columns" && !concurrentReads(m) {
			t.Errorf("%s: not read in parallel", name)
		}
		start, n := 3, rs-10
		want, got := make([]float32, n*cs), make([]float32, n*cs)
		if err := m.ReadRows(start, n, want); err != nil {
			t.Fatal(err)
		}
		if err := ReadRowsParallel(m, start, n, got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: ReadRowsParallel differs from ReadRows", name)
		}
		if err := ReadRowsParallel(m, rs-5, 6, make([]float32, 6*cs)); err == nil {
			t.Errorf("%s: reading past the last row succeeded", name)
		}
	}
}

// columnReader is a Dense that also reads some columns alone, counting
// those reads.
type columnReader struct {
	*Dense
	reads int
}

func (c *columnReader) ReadRowsColumns(start, n int, cols []int, dst []float32) error {
	c.reads++
	for r := range n {
		for j, col := range cols {
			dst[r*len(cols)+j] = c.Data[(start+r)*c.Cols+col]
		}
	}
	return nil
}

// TestColumnsReadThroughColumnReader: a Columns view of a ColumnReader
// reads only its columns through it, with the values of the generic path.
func TestColumnsReadThroughColumnReader(t *testing.T) {
	d := randDense(50, 9, 3)
	keep := []int{7, 0, 4}
	cr := &columnReader{Dense: d}
	viaReader, err := Columns(cr, keep)
	if err != nil {
		t.Fatal(err)
	}
	generic, _ := Columns(d, keep)
	got, want := make([]float32, 20*3), make([]float32, 20*3)
	if err := viaReader.ReadRows(10, 20, got); err != nil {
		t.Fatal(err)
	}
	generic.ReadRows(10, 20, want)
	if cr.reads != 1 || !slices.Equal(got, want) {
		t.Fatalf("%d column reads; rows %v, want %v", cr.reads, got[:6], want[:6])
	}
}
