package synthetic

import (
	"slices"
	"testing"

	"github.com/grainlab/grain/analysis/dataset"
)

// TestTeacherChunked checks that the chunked generator is deterministic
// (rows depend on the chunk, not on which goroutine drew them), shares
// Teacher's teacher for the same seed (so both label most rows alike by
// the same rule) and draws different rows.
func TestTeacherChunked(t *testing.T) {
	c := TeacherConfig{Rows: 2500, Neurons: 40, Labels: 7, NonZero: 4, Scale: 1.5, Noise: 0.2, Rank: 3, Seed: 5}
	a, b := TeacherChunked(c, 300), TeacherChunked(c, 300)
	xa, xb := a.X.(*dataset.Dense), b.X.(*dataset.Dense)
	if !slices.Equal(xa.Data, xb.Data) || !slices.Equal(a.Y, b.Y) {
		t.Fatal("two chunked runs differ")
	}
	seq := Teacher(c)
	if rows, cols := a.X.Dims(); rows != c.Rows || cols != c.Neurons || !slices.Equal(a.Labels, seq.Labels) {
		t.Fatalf("chunked set %d×%d, labels %v", rows, cols, a.Labels)
	}
	if slices.Equal(xa.Data, seq.X.(*dataset.Dense).Data) {
		t.Fatal("chunked rows equal the single-stream rows")
	}
	// The same teacher: relabelling the chunked rows with the single-stream
	// teacher's weights (noise-free) agrees with the drawn labels on most rows.
	tt := newTeacher(c, newStream(c))
	agree := 0
	for i := range a.Y {
		row := xa.RowSlice(i, 1)
		best, bl := -1e300, 0
		for l, terms := range tt.terms {
			var s float64
			for _, term := range terms {
				s += term.w * float64(row[term.j])
			}
			if s > best {
				best, bl = s, l
			}
		}
		if int32(bl) == a.Y[i] {
			agree++
		}
	}
	if agree < c.Rows*3/4 {
		t.Fatalf("the teacher explains %d of %d chunked labels", agree, c.Rows)
	}
}
