package crosscorr

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/progress"
	"gonum.org/v1/gonum/stat"
)

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5851f42d4c957f2d)) }

// randomActs returns T×N activations whose neurons have random means and
// scales.
func randomActs(r *rand.Rand, T, N int) []float32 {
	mu, sd := make([]float64, N), make([]float64, N)
	for j := range N {
		mu[j], sd[j] = 4*r.NormFloat64(), 0.5+2*r.Float64()
	}
	x := make([]float32, T*N)
	for t := range T {
		for j := range N {
			x[t*N+j] = float32(mu[j] + sd[j]*r.NormFloat64())
		}
	}
	return x
}

func mem(t testing.TB, x []float32, T, N int) *Memory {
	t.Helper()
	m, err := NewMemory(x, T, N, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// readOnly hides a source's RowViewer and Sentences methods.
type readOnly struct{ Source }

// deviceOnly hides the CPU backend's engine.HostMemory, so the code paths
// of a GPU backend (Upload, Download, staging) run on the CPU.
type deviceOnly struct{ engine.Backend }

// setup is one combination of backend path and source path.
type setup struct {
	name string
	be   engine.Backend
	src  func(*Memory) Source
}

func setups() []setup {
	view := func(m *Memory) Source { return m }
	read := func(m *Memory) Source { return readOnly{m} }
	return []setup{
		{"host/view", cpu.New(), view},
		{"host/read", cpu.New(), read},
		{"device/view", deviceOnly{cpu.New()}, view},
		{"device/read", deviceOnly{cpu.New()}, read},
	}
}

func column(x []float32, T, N, j int) []float64 {
	c := make([]float64, T)
	for t := range T {
		c[t] = float64(x[t*N+j])
	}
	return c
}

// refCorr is the N×M Pearson correlation matrix by gonum in float64, with
// r = 0 for constant neurons.
func refCorr(a []float32, N int, b []float32, M, T int) []float64 {
	out := make([]float64, N*M)
	bc := make([][]float64, M)
	for j := range M {
		bc[j] = column(b, T, M, j)
	}
	for i := range N {
		ai := column(a, T, N, i)
		for j := range M {
			if v := stat.Correlation(ai, bc[j], nil); !math.IsNaN(v) {
				out[i*M+j] = v // else a constant neuron: r = 0
			}
		}
	}
	return out
}

func maxDiff(got []float32, want []float64) float64 {
	var d float64
	for i := range got {
		d = max(d, math.Abs(float64(got[i])-want[i]))
	}
	return d
}

// countingReporter checks that every bar's Add calls sum to its total.
type countingReporter struct {
	t    *testing.T
	bars []*countingBar
}

type countingBar struct {
	label       string
	total, done int64
	finished    bool
}

func (c *countingReporter) Start(label string, total int64) progress.Bar {
	b := &countingBar{label: label, total: total}
	c.bars = append(c.bars, b)
	return b
}

func (b *countingBar) Add(n int64)      { b.done += n }
func (b *countingBar) SetStatus(string) {}
func (b *countingBar) Finish()          { b.finished = true }

func (c *countingReporter) check() {
	c.t.Helper()
	if len(c.bars) == 0 {
		c.t.Error("no progress reported")
	}
	for _, b := range c.bars {
		if b.done != b.total || !b.finished {
			c.t.Errorf("progress %q: %d of %d done, finished %v", b.label, b.done, b.total, b.finished)
		}
	}
}
