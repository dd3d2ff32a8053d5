package synthetic

import (
	"math"
	"math/rand/v2"

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

// Teacher generates the workload; labels are named T00, T01, ...
func Teacher(c TeacherConfig) *dataset.Dataset {
	r := rand.New(rand.NewPCG(c.Seed, 0x7eac))
	n, k := c.Neurons, c.Labels
	type term struct {
		j int
		w float64
	}
	teacher := make([][]term, k)
	for l := range teacher {
		for _, j := range r.Perm(n)[:c.NonZero] {
			teacher[l] = append(teacher[l], term{j, c.Scale * r.NormFloat64()})
		}
	}
	// Shared low-rank factors: z = e + U·f / sqrt(rank).
	u := make([]float64, n*c.Rank)
	for i := range u {
		u[i] = r.NormFloat64()
	}
	x := make([]float32, c.Rows*n)
	y := make([]int32, c.Rows)
	f := make([]float64, c.Rank)
	z := make([]float64, n)
	s := 1 / math.Sqrt(float64(max(c.Rank, 1)))
	for i := 0; i < c.Rows; i++ {
		for q := range f {
			f[q] = r.NormFloat64()
		}
		row := x[i*n : (i+1)*n]
		for j := range z {
			v := r.NormFloat64()
			for q, fq := range f {
				v += s * u[j*c.Rank+q] * fq
			}
			z[j] = v
			row[j] = float32(v)
		}
		best, bl := math.Inf(-1), 0
		for l, terms := range teacher {
			var a float64
			for _, t := range terms {
				a += t.w * z[t.j]
			}
			a += c.Noise * -math.Log(-math.Log(r.Float64()))
			if a > best {
				best, bl = a, l
			}
		}
		y[i] = int32(bl)
	}
	labels := make([]string, k)
	for l := range labels {
		labels[l] = "T" + string(rune('0'+l/10)) + string(rune('0'+l%10))
	}
	return &dataset.Dataset{X: &dataset.Dense{Data: x, Rows: c.Rows, Cols: n}, Y: y, Labels: labels}
}
