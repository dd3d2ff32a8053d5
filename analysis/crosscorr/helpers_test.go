package crosscorr

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/progress"
	"github.com/grainlab/grain/kernels"
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

// asyncDevice is deviceOnly with an engine.AsyncUploader and an
// engine.PreRounded, so that the double-buffered path and the pre-rounded
// sweep run on the CPU. It copies at once, and panics where a GPU could
// compute wrong values: a staging buffer written between UploadAsync and
// Wait (the copy may still read it), a device block uploaded without an
// event recorded after its allocation (the copy may overtake its
// zero-fill) or, again, after its previous upload (its previous work may
// still read it), GemmPreRounded inputs that are not exact in the
// precision's input format.
type asyncDevice struct {
	deviceOnly
	events    int                    // events recorded so far
	allocated map[engine.Storage]int // events recorded before each block's allocation
	uploaded  map[engine.Storage]int // events recorded before each block's last upload
	live      int                    // staging buffers not freed
}

func newAsyncDevice() *asyncDevice {
	return &asyncDevice{deviceOnly: deviceOnly{cpu.New()}, allocated: map[engine.Storage]int{}, uploaded: map[engine.Storage]int{}}
}

func (d *asyncDevice) Alloc(rows, cols int, dt engine.DType) (*engine.Tensor, error) {
	t, err := d.deviceOnly.Alloc(rows, cols, dt)
	if err == nil {
		d.allocated[t.Storage()] = d.events
	}
	return t, err
}

// sameBits reports whether a and b hold the same float32 bit patterns.
func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

type fakeEvent int

func (fakeEvent) Wait() error { return nil }

type fakeStaging struct {
	d      *asyncDevice
	data   []float32
	copied [][]float32 // the values of the copies since the last Wait
	freed  bool
}

func (s *fakeStaging) Float32s() []float32 { return s.data }

func (s *fakeStaging) Wait() error {
	for _, c := range s.copied {
		if !sameBits(c, s.data[:len(c)]) {
			panic("asyncDevice: staging buffer written before Wait")
		}
	}
	s.copied = s.copied[:0]
	return nil
}

func (s *fakeStaging) Free() {
	if !s.freed {
		s.Wait()
		s.freed = true
		s.d.live--
	}
}

func (d *asyncDevice) NewStaging(n int) (engine.Staging, error) {
	d.live++
	return &fakeStaging{d: d, data: make([]float32, n)}, nil
}

func (d *asyncDevice) Record() (engine.Event, error) {
	d.events++
	return fakeEvent(d.events), nil
}

func (d *asyncDevice) UploadAsync(dst *engine.Tensor, src engine.Staging, after engine.Event) {
	s := src.(*fakeStaging)
	if s.freed {
		panic("asyncDevice: UploadAsync from a freed staging buffer")
	}
	if last, ok := d.uploaded[dst.Storage()]; ok && (after == nil || int(after.(fakeEvent)) <= last) {
		panic("asyncDevice: block uploaded again before the end of its previous work")
	}
	if at, ok := d.allocated[dst.Storage()]; ok && (after == nil || int(after.(fakeEvent)) <= at) {
		panic("asyncDevice: block uploaded before the end of its allocation (its zero-fill)")
	}
	d.uploaded[dst.Storage()] = d.events
	v := slices.Clone(s.data[:dst.Len()])
	s.copied = append(s.copied, v)
	d.Upload(dst, v)
}

// rounded returns t's values rounded to p's input format, and t's values.
func (d *asyncDevice) rounded(t *engine.Tensor, p engine.Precision) (r, v []float32) {
	v = make([]float32, t.Len())
	if err := d.Download(v, t); err != nil {
		panic(err)
	}
	r = slices.Clone(v)
	switch p {
	case engine.TF32:
		kernels.RoundTF32(r, v)
	case engine.BF16:
		kernels.RoundBF16(r, v)
	}
	return r, v
}

func (d *asyncDevice) StandardizeRounded(dst, src, mean, invStd *engine.Tensor, p engine.Precision) {
	d.Standardize(dst, src, mean, invStd)
	r, _ := d.rounded(dst, p)
	d.Upload(dst, r)
}

func (d *asyncDevice) StandardizeRoundedT(dst, src, mean, invStd *engine.Tensor, p engine.Precision) {
	d.Backend.(engine.PreRounded).StandardizeRoundedT(dst, src, mean, invStd, p)
}

func (d *asyncDevice) StandardizeRoundedTMoments(dst, src, mean, invStd, colMean, colM2 *engine.Tensor, p engine.Precision) {
	d.Backend.(engine.PreRounded).StandardizeRoundedTMoments(dst, src, mean, invStd, colMean, colM2, p)
}

func (d *asyncDevice) GemmPreRounded(transA, transB bool, alpha float32, a, b *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision) {
	for _, t := range []*engine.Tensor{a, b} {
		if r, v := d.rounded(t, p); !sameBits(r, v) {
			panic("asyncDevice: GemmPreRounded input not rounded to " + p.String())
		}
	}
	d.Gemm(transA, transB, alpha, a, b, beta, c, p)
}

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
