package synthetic

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/grainlab/grain/analysis/dataset"
)

// TeacherConfig describes a probe-training workload whose labels come from
// a sparse linear "teacher": activations z ~ N(0, I) (plus a shared
// low-rank component so neurons are correlated, as real ones are), and
//
//	label = argmax_l (W*·z)[l] + Noise·g_l,   g_l ~ Gumbel(0, 1)
//
// with each row of W* having NonZero non-zero weights (drawn N(0, Scale²))
// on random neurons. The Gumbel noise makes the labels a softmax draw, so
// no probe reaches 100%.
type TeacherConfig struct {
	Rows, Neurons, Labels int
	NonZero               int
	Scale, Noise          float64
	Rank                  int
	Seed                  uint64
}

// DefaultTeacher is the benchmark workload of grain's probe issue:
// 50,000 × 2,048 × 45 with 16 non-zero teacher weights per label.
func DefaultTeacher() TeacherConfig {
	return TeacherConfig{Rows: 50000, Neurons: 2048, Labels: 45, NonZero: 16, Scale: 1.5, Noise: 1, Rank: 8, Seed: 1}
}

// Teacher generates the workload from one random stream; labels are named
// T00, T01, ...
func Teacher(c TeacherConfig) *dataset.Dataset {
	r := newStream(c)
	t := newTeacher(c, r)
	x := make([]float32, c.Rows*c.Neurons)
	y := make([]int32, c.Rows)
	t.rows(r, x, y)
	return t.dataset(x, y)
}

// TeacherChunked generates the same kind of workload as Teacher (the same
// teacher and low-rank factors for the same Seed) on all cores: rows come
// in chunks of chunk rows, chunk c drawing from its own stream (Seed+1, c),
// so the rows differ from Teacher's but follow the same recipe and depend
// only on the configuration and chunk.
func TeacherChunked(c TeacherConfig, chunk int) *dataset.Dataset {
	t := newTeacher(c, newStream(c))
	x := make([]float32, c.Rows*c.Neurons)
	y := make([]int32, c.Rows)
	chunks := (c.Rows + chunk - 1) / chunk
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ci := range next {
				lo, hi := ci*chunk, min((ci+1)*chunk, c.Rows)
				t.rows(rand.New(rand.NewPCG(c.Seed+1, uint64(ci))), x[lo*c.Neurons:hi*c.Neurons], y[lo:hi])
			}
		}()
	}
	for ci := range chunks {
		next <- ci
	}
	close(next)
	wg.Wait()
	return t.dataset(x, y)
}

// newStream is the random stream that draws the teacher (and, in Teacher,
// the rows after it).
func newStream(c TeacherConfig) *rand.Rand { return rand.New(rand.NewPCG(c.Seed, 0x7eac)) }

// teacher holds a workload's sparse teacher weights and shared low-rank
// factors U (Neurons × Rank).
type teacher struct {
	c     TeacherConfig
	terms [][]teacherTerm
	u     []float64
}

type teacherTerm struct {
	j int
	w float64
}

// newTeacher draws the teacher rows and then U from r.
func newTeacher(c TeacherConfig, r *rand.Rand) *teacher {
	t := &teacher{c: c, terms: make([][]teacherTerm, c.Labels), u: make([]float64, c.Neurons*c.Rank)}
	for l := range t.terms {
		for _, j := range r.Perm(c.Neurons)[:c.NonZero] {
			t.terms[l] = append(t.terms[l], teacherTerm{j, c.Scale * r.NormFloat64()})
		}
	}
	// Shared low-rank factors: z = e + U·f / sqrt(rank).
	for i := range t.u {
		t.u[i] = r.NormFloat64()
	}
	return t
}

// rows fills len(y) rows of x (row-major, Neurons wide) and their labels
// from r: per row the factors f, then z, then one Gumbel draw per label.
func (t *teacher) rows(r *rand.Rand, x []float32, y []int32) {
	n, rank := t.c.Neurons, t.c.Rank
	f := make([]float64, rank)
	z := make([]float64, n)
	s := 1 / math.Sqrt(float64(max(rank, 1)))
	for i := range y {
		for q := range f {
			f[q] = r.NormFloat64()
		}
		row := x[i*n : (i+1)*n]
		for j := range z {
			v := r.NormFloat64()
			for q, fq := range f {
				v += s * t.u[j*rank+q] * fq
			}
			z[j] = v
			row[j] = float32(v)
		}
		best, bl := math.Inf(-1), 0
		for l, terms := range t.terms {
			var a float64
			for _, tt := range terms {
				a += tt.w * z[tt.j]
			}
			a += t.c.Noise * -math.Log(-math.Log(r.Float64()))
			if a > best {
				best, bl = a, l
			}
		}
		y[i] = int32(bl)
	}
}

// dataset wraps generated rows with the label names T00, T01, ...
func (t *teacher) dataset(x []float32, y []int32) *dataset.Dataset {
	labels := make([]string, t.c.Labels)
	for l := range labels {
		labels[l] = "T" + string(rune('0'+l/10)) + string(rune('0'+l%10))
	}
	return &dataset.Dataset{X: &dataset.Dense{Data: x, Rows: len(y), Cols: t.c.Neurons}, Y: y, Labels: labels}
}
