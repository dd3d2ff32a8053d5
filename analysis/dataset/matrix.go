// Package dataset joins activations with labels into what probes train on:
// a tokens × neurons design matrix that is read in row blocks (so it can live
// in a memory-mapped activation file larger than RAM), one integer label per
// row, the label names, and each row's token (for control tasks).
//
// Matrix views select rows or columns, or zero columns, without copying the
// underlying activations.
package dataset

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
)

// Matrix is a tokens × neurons design matrix read in blocks of rows.
// *activations.Reader satisfies it.
type Matrix interface {
	// Dims returns the number of rows and columns.
	Dims() (rows, cols int)
	// ReadRows fills dst (n·cols values, row-major) with rows [start, start+n).
	ReadRows(start, n int, dst []float32) error
}

// Dense is an in-memory Matrix.
type Dense struct {
	Data       []float32 // row-major, len Rows·Cols
	Rows, Cols int
}

// NewDense checks the size and returns a Dense.
func NewDense(data []float32, rows, cols int) (*Dense, error) {
	if len(data) != rows*cols {
		return nil, fmt.Errorf("dense matrix: %d values for %d×%d", len(data), rows, cols)
	}
	return &Dense{Data: data, Rows: rows, Cols: cols}, nil
}

// Dims returns the shape.
func (d *Dense) Dims() (int, int) { return d.Rows, d.Cols }

// ReadRows copies rows [start, start+n) into dst.
func (d *Dense) ReadRows(start, n int, dst []float32) error {
	if err := checkRange(d, start, n, dst); err != nil {
		return err
	}
	copy(dst, d.Data[start*d.Cols:(start+n)*d.Cols])
	return nil
}

// RowSlice returns a view of rows [start, start+n) without copying (the
// zero-copy path for in-memory data).
func (d *Dense) RowSlice(start, n int) []float32 {
	return d.Data[start*d.Cols : (start+n)*d.Cols]
}

func checkRange(m Matrix, start, n int, dst []float32) error {
	rows, cols := m.Dims()
	if start < 0 || n < 0 || start+n > rows {
		return fmt.Errorf("rows [%d, %d) outside [0, %d)", start, start+n, rows)
	}
	if len(dst) != n*cols {
		return fmt.Errorf("destination holds %d values, want %d×%d", len(dst), n, cols)
	}
	return nil
}

// Load reads the whole matrix into memory.
func Load(m Matrix) (*Dense, error) {
	if d, ok := m.(*Dense); ok {
		return d, nil
	}
	rows, cols := m.Dims()
	data := make([]float32, rows*cols)
	const block = 4096
	for s := 0; s < rows; s += block {
		n := min(block, rows-s)
		if err := m.ReadRows(s, n, data[s*cols:(s+n)*cols]); err != nil {
			return nil, err
		}
	}
	return &Dense{Data: data, Rows: rows, Cols: cols}, nil
}

// CheckFinite returns an error naming the first NaN or ±Inf (row, column).
// A *Dense is scanned in place on all cores; other matrices block by block.
func CheckFinite(m Matrix) error {
	rows, cols := m.Dims()
	if d, ok := m.(*Dense); ok {
		if i := firstNonFiniteParallel(d.Data[:rows*cols], cols); i >= 0 {
			return nonFiniteError(d.Data[i], i/cols, i%cols)
		}
		return nil
	}
	const block = 4096
	buf := make([]float32, block*cols)
	for s := 0; s < rows; s += block {
		n := min(block, rows-s)
		b := buf[:n*cols]
		if err := m.ReadRows(s, n, b); err != nil {
			return err
		}
		if i := firstNonFinite(b); i >= 0 {
			return nonFiniteError(b[i], s+i/cols, i%cols)
		}
	}
	return nil
}

func nonFiniteError(v float32, row, col int) error {
	return fmt.Errorf("non-finite activation %g at token row %d, neuron %d", v, row, col)
}

// firstNonFiniteParallel is firstNonFinite of x (rows of cols values) with
// whole rows split among the cores.
func firstNonFiniteParallel(x []float32, cols int) int {
	rows := len(x) / max(cols, 1)
	workers := min(runtime.GOMAXPROCS(0), max(rows/1024, 1))
	if workers <= 1 {
		return firstNonFinite(x)
	}
	first := make([]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := rows*w/workers*cols, rows*(w+1)/workers*cols
		wg.Go(func() {
			first[w] = -1
			if i := firstNonFinite(x[lo:hi]); i >= 0 {
				first[w] = lo + i
			}
		})
	}
	wg.Wait()
	for _, i := range first {
		if i >= 0 {
			return i
		}
	}
	return -1
}

// firstNonFinite returns the index of the first NaN or ±Inf in x, or -1.
// A float32 is non-finite exactly when its exponent bits are all ones.
func firstNonFinite(x []float32) int {
	const exp = 0x7f800000
	for i, v := range x {
		if math.Float32bits(v)&exp == exp {
			return i
		}
	}
	return -1
}

// columns is a view keeping some columns, in the given order.
type columns struct {
	m    Matrix
	keep []int
	buf  []float32
}

// Columns returns a view with only the columns keep (in that order):
// NeuroX's filter_activations_keep_neurons. Indices must be valid and
// distinct.
func Columns(m Matrix, keep []int) (Matrix, error) {
	_, cols := m.Dims()
	if err := checkIndices(keep, cols); err != nil {
		return nil, err
	}
	return &columns{m: m, keep: append([]int(nil), keep...)}, nil
}

// WithoutColumns returns a view with the columns remove dropped, the others
// in their original order: NeuroX's filter_activations_remove_neurons.
func WithoutColumns(m Matrix, remove []int) (Matrix, error) {
	_, cols := m.Dims()
	if err := checkIndices(remove, cols); err != nil {
		return nil, err
	}
	return Columns(m, Complement(remove, cols))
}

// Complement returns the indices in [0, n) not in set, ascending.
func Complement(set []int, n int) []int {
	in := make([]bool, n)
	for _, j := range set {
		in[j] = true
	}
	var out []int
	for j := 0; j < n; j++ {
		if !in[j] {
			out = append(out, j)
		}
	}
	return out
}

func checkIndices(idx []int, n int) error {
	seen := make(map[int]bool, len(idx))
	for _, j := range idx {
		if j < 0 || j >= n {
			return fmt.Errorf("neuron %d outside [0, %d)", j, n)
		}
		if seen[j] {
			return fmt.Errorf("neuron %d listed twice", j)
		}
		seen[j] = true
	}
	return nil
}

func (c *columns) Dims() (int, int) {
	rows, _ := c.m.Dims()
	return rows, len(c.keep)
}

// ColumnReader is a Matrix that reads some of its columns without the
// others (*activations.Reader is one); a Columns view of it reads through
// it.
type ColumnReader interface {
	Matrix
	// ReadRowsColumns fills dst (n·len(cols) values, row-major) with the
	// columns cols of rows [start, start+n).
	ReadRowsColumns(start, n int, cols []int, dst []float32) error
}

func (c *columns) ReadRows(start, n int, dst []float32) error {
	if err := checkRange(c, start, n, dst); err != nil {
		return err
	}
	if cr, ok := c.m.(ColumnReader); ok {
		return cr.ReadRowsColumns(start, n, c.keep, dst)
	}
	_, cols := c.m.Dims()
	if cap(c.buf) < n*cols {
		c.buf = make([]float32, n*cols)
	}
	src := c.buf[:n*cols]
	if err := c.m.ReadRows(start, n, src); err != nil {
		return err
	}
	k := len(c.keep)
	for r := 0; r < n; r++ {
		row, out := src[r*cols:(r+1)*cols], dst[r*k:(r+1)*k]
		for i, j := range c.keep {
			out[i] = row[j]
		}
	}
	return nil
}

// zeroed is a view with some columns set to zero.
type zeroed struct {
	m    Matrix
	zero []int
}

// ZeroColumns returns a view in which the columns zero read as 0 and all
// others unchanged: NeuroX's zero_out_activations_remove_neurons.
func ZeroColumns(m Matrix, zero []int) (Matrix, error) {
	_, cols := m.Dims()
	if err := checkIndices(zero, cols); err != nil {
		return nil, err
	}
	z := append([]int(nil), zero...)
	sort.Ints(z)
	return &zeroed{m: m, zero: z}, nil
}

// KeepOnlyColumns returns a view in which every column not in keep reads as
// 0: NeuroX's zero_out_activations_keep_neurons.
func KeepOnlyColumns(m Matrix, keep []int) (Matrix, error) {
	_, cols := m.Dims()
	if err := checkIndices(keep, cols); err != nil {
		return nil, err
	}
	return ZeroColumns(m, Complement(keep, cols))
}

func (z *zeroed) Dims() (int, int) { return z.m.Dims() }

func (z *zeroed) ReadRows(start, n int, dst []float32) error {
	if err := z.m.ReadRows(start, n, dst); err != nil {
		return err
	}
	_, cols := z.m.Dims()
	for r := 0; r < n; r++ {
		row := dst[r*cols : (r+1)*cols]
		for _, j := range z.zero {
			row[j] = 0
		}
	}
	return nil
}

// rowSpans is a view concatenating row ranges of a matrix.
type rowSpans struct {
	m     Matrix
	spans []Span
	cum   []int // cum[i] = rows before span i
}

// Span is the row range [Start, End).
type Span struct{ Start, End int }

// SpanRows returns the number of rows the spans cover.
func SpanRows(spans []Span) int {
	n := 0
	for _, s := range spans {
		n += s.End - s.Start
	}
	return n
}

// Rows returns a view of the concatenation of the given row spans, in order.
func Rows(m Matrix, spans []Span) (Matrix, error) {
	rows, _ := m.Dims()
	v := &rowSpans{m: m, cum: make([]int, len(spans)+1)}
	for i, s := range spans {
		if s.Start < 0 || s.End < s.Start || s.End > rows {
			return nil, fmt.Errorf("row span [%d, %d) outside [0, %d)", s.Start, s.End, rows)
		}
		v.spans = append(v.spans, s)
		v.cum[i+1] = v.cum[i] + s.End - s.Start
	}
	return v, nil
}

func (v *rowSpans) Dims() (int, int) {
	_, cols := v.m.Dims()
	return v.cum[len(v.spans)], cols
}

func (v *rowSpans) ReadRows(start, n int, dst []float32) error {
	if err := checkRange(v, start, n, dst); err != nil {
		return err
	}
	_, cols := v.m.Dims()
	// First span containing row start.
	i := sort.Search(len(v.spans), func(i int) bool { return v.cum[i+1] > start })
	for n > 0 {
		s := v.spans[i]
		off := start - v.cum[i]
		take := min(n, s.End-s.Start-off)
		if err := v.m.ReadRows(s.Start+off, take, dst[:take*cols]); err != nil {
			return err
		}
		dst = dst[take*cols:]
		start += take
		n -= take
		i++
	}
	return nil
}

// parallelReadValues is the fewest values per goroutine of ReadRowsParallel
// (4 MiB): below it, starting goroutines costs more than the copy.
const parallelReadValues = 1 << 20

// ReadRowsParallel is m.ReadRows(start, n, dst), with the rows split among
// the cores when m reads from memory and keeps no state of its own (a
// *Dense, or row-span and zeroed-column views of one), so the copy runs at
// more than one core's memory bandwidth; any other Matrix is read by
// m.ReadRows alone. It returns the first error.
func ReadRowsParallel(m Matrix, start, n int, dst []float32) error {
	_, cols := m.Dims()
	parts := min(runtime.GOMAXPROCS(0), n*cols/parallelReadValues)
	if parts < 2 || !concurrentReads(m) {
		return m.ReadRows(start, n, dst)
	}
	if err := checkRange(m, start, n, dst); err != nil {
		return err
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		wg.Go(func() { errs[p] = m.ReadRows(start+lo, hi-lo, dst[lo*cols:hi*cols]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// concurrentReads reports whether m's ReadRows may run on several
// goroutines at once: in-memory data and views that keep no buffers.
func concurrentReads(m Matrix) bool {
	switch v := m.(type) {
	case *Dense:
		return true
	case *rowSpans:
		return concurrentReads(v.m)
	case *zeroed:
		return concurrentReads(v.m)
	}
	return false
}
