//go:build grain_cuda

package cuda_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/cuda"
	"github.com/grainlab/grain/engine/progress"
)

// The cross-model correlation suite on the CUDA backend, which takes
// analysis/crosscorr's double-buffered path (engine.AsyncUploader) and, in
// TF32 and BF16, its pre-rounded sweep (engine.PreRounded).

// watched is the CUDA backend counting the calls that only crosscorr's
// double-buffered and pre-rounded paths make.
type watched struct {
	*cuda.Backend
	uploads, preRounded int
}

func (w *watched) UploadAsync(dst *engine.Tensor, src engine.Staging, after engine.Event) {
	w.uploads++
	w.Backend.UploadAsync(dst, src, after)
}

func (w *watched) GemmPreRounded(transA, transB bool, alpha float32, a, b *engine.Tensor, beta float32, c *engine.Tensor, p engine.Precision) {
	w.preRounded++
	w.Backend.GemmPreRounded(transA, transB, alpha, a, b, beta, c, p)
}

// uploading hides the backend's optional interfaces, so that crosscorr
// takes its uploading path (Upload, Standardize, Gemm).
type uploading struct{ engine.Backend }

// latentActs returns, for every width, tokens × width activations x = Z·W
// + 2ε of a latent-factor model (Z: tokens × latent shared by all models,
// W and ε standard normal per model), so that neurons of different models
// correlate.
func latentActs(r *rand.Rand, tokens, latent int, widths ...int) [][]float32 {
	z := make([]float64, tokens*latent)
	for i := range z {
		z[i] = r.NormFloat64()
	}
	out := make([][]float32, len(widths))
	for m, n := range widths {
		w := make([]float64, latent*n)
		for i := range w {
			w[i] = r.NormFloat64()
		}
		x := make([]float32, tokens*n)
		for i := range tokens {
			for j := range n {
				v := 2 * r.NormFloat64()
				for l := range latent {
					v += z[i*latent+l] * w[l*n+j]
				}
				x[i*n+j] = float32(v)
			}
		}
		out[m] = x
	}
	return out
}

// memModels wraps activations (tokens rows each) as in-memory models A, B,
// ...
func memModels(t *testing.T, tokens int, acts ...[]float32) []crosscorr.Model {
	t.Helper()
	var ms []crosscorr.Model
	for m, x := range acts {
		src, err := crosscorr.NewMemory(x, tokens, len(x)/tokens, nil)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, crosscorr.Model{Name: string(rune('A' + m)), Source: src})
	}
	return ms
}

// pearson is the n×m correlation matrix of a (tokens × n) and b (tokens ×
// m) in float64, 0 for a constant neuron.
func pearson(a []float32, n int, b []float32, m, tokens int) []float64 {
	z := func(x []float32, w int) []float64 {
		out := make([]float64, len(x))
		for j := range w {
			var mu, ss float64
			for i := range tokens {
				mu += float64(x[i*w+j])
			}
			mu /= float64(tokens)
			for i := range tokens {
				d := float64(x[i*w+j]) - mu
				ss += d * d
			}
			if ss == 0 {
				continue
			}
			inv := 1 / math.Sqrt(ss/float64(tokens))
			for i := range tokens {
				out[i*w+j] = (float64(x[i*w+j]) - mu) * inv
			}
		}
		return out
	}
	za, zb := z(a, n), z(b, m)
	r := make([]float64, n*m)
	for i := range tokens {
		for p := range n {
			v := za[i*n+p]
			for q := range m {
				r[p*m+q] += v * zb[i*m+q]
			}
		}
	}
	for k := range r {
		r[k] /= float64(tokens)
	}
	return r
}

// TestGPUCrossCorr correlates two models over three blocks of
// crosscorr.MaxBlockRows tokens on the double-buffered path in every
// precision: FP32 bitwise equal to the uploading path on the same device
// and within 1e-5 of the CPU with the same partners; TF32 and BF16 within
// 3e-3 and 2e-2 of float64, through the pre-rounded GEMM. A constant
// neuron gets r = 0 exactly.
func TestGPUCrossCorr(t *testing.T) {
	g := &watched{Backend: device(t)}
	const tokens, n, m, k = 3 * crosscorr.MaxBlockRows, 48, 40, 3
	acts := latentActs(rand.New(rand.NewPCG(31, 32)), tokens, 6, n, m)
	for i := range tokens {
		acts[0][i*n+17] = 2.5
	}
	models := memModels(t, tokens, acts...)
	want := pearson(acts[0], n, acts[1], m, tokens)
	cpuRes, err := crosscorr.Correlate(cpu.New(), models[0], models[1], crosscorr.Options{Matrix: true, TopK: k})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p   engine.Precision
		tol float64
	}{{engine.FP32, 1e-5}, {engine.TF32, 3e-3}, {engine.BF16, 2e-2}} {
		opt := crosscorr.Options{Matrix: true, TopK: k, Precision: c.p}
		uploads, pre := g.uploads, g.preRounded
		got, err := crosscorr.Correlate(g, models[0], models[1], opt)
		if err != nil {
			t.Fatalf("%v: %v", c.p, err)
		}
		if g.uploads == uploads || (g.preRounded > pre) != (c.p != engine.FP32) {
			t.Fatalf("%v: %d asynchronous uploads, %d pre-rounded GEMMs: not the double-buffered path", c.p, g.uploads-uploads, g.preRounded-pre)
		}
		ref, err := crosscorr.Correlate(uploading{g.Backend}, models[0], models[1], opt)
		if err != nil {
			t.Fatalf("%v, uploading path: %v", c.p, err)
		}
		var dUp, d64 float64
		for i, v := range got.R {
			dUp = max(dUp, math.Abs(float64(v-ref.R[i])))
			d64 = max(d64, math.Abs(float64(v)-want[i]))
		}
		if c.p == engine.FP32 && (dUp != 0 || !reflect.DeepEqual(got.ANeurons, ref.ANeurons) || !reflect.DeepEqual(got.BNeurons, ref.BNeurons)) {
			t.Errorf("fp32: differs from the uploading path on the same device (max |Δr| %g)", dUp)
		}
		// TF32 and BF16: the same rounded inputs, but the double-buffered
		// path multiplies neuron-major and the uploading path token-major,
		// so cuBLAS may pick kernels that add in other orders (a float32
		// simulation of this test's data: up to 1.5e-5 between orders).
		if lim := map[bool]float64{true: 0, false: 1e-4}[c.p == engine.FP32]; dUp > lim {
			t.Errorf("%v: max |Δr| = %g against the uploading path (same rounded inputs; limit %g)", c.p, dUp, lim)
		}
		if d64 > c.tol || c.p != engine.FP32 && d64 < 1e-6 {
			t.Errorf("%v: max |r − float64| = %g (tolerance %g; precision in effect?)", c.p, d64, c.tol)
		}
		t.Logf("%v: max |r − float64| = %.2g, max |Δr| against the uploading path %.2g", c.p, d64, dUp)
		for i := range n {
			for j := range m {
				if i == 17 && got.At(i, j) != 0 {
					t.Fatalf("%v: constant neuron A:17 has r = %g with B:%d", c.p, got.At(i, j), j)
				}
			}
		}
		if !slices.Equal(got.ConstantA, []int{17}) || len(got.ConstantB) != 0 || len(got.Warnings) != 1 {
			t.Errorf("%v: constant neurons %v %v, warnings %q", c.p, got.ConstantA, got.ConstantB, got.Warnings)
		}
		if c.p != engine.FP32 {
			continue
		}
		for _, side := range []struct{ gpu, cpu []crosscorr.Extremes }{{got.ANeurons, cpuRes.ANeurons}, {got.BNeurons, cpuRes.BNeurons}} {
			for i := range side.gpu {
				gl, cl := side.gpu[i], side.cpu[i]
				for q, pair := range [][2]crosscorr.Link{{gl.Max, cl.Max}, {gl.Min, cl.Min}, {gl.Top[k-1], cl.Top[k-1]}} {
					if math.Abs(pair[0].R-pair[1].R) > 1e-5 || pair[0].Neuron != pair[1].Neuron && math.Abs(math.Abs(pair[0].R)-math.Abs(pair[1].R)) > 1e-6 {
						t.Errorf("neuron %d, extreme %d: GPU %+v, CPU %+v", i, q, pair[0], pair[1])
					}
				}
			}
		}
	}
}

// passes counts, from crosscorr's progress reports, its sweeps (one
// status each) and the blocks they stream (one Add per block and sweep).
type passes struct{ sweeps, adds int }

func (p *passes) Start(string, int64) progress.Bar { return p }
func (p *passes) Add(int64)                        { p.adds++ }
func (p *passes) SetStatus(string)                 { p.sweeps++ }

func (p *passes) Finish() {}

// TestGPUCrossCorrRank ranks four models by every method on the GPU and on
// the CPU in FP32: the same scores (1e-5; LinReg and SVCCA, which
// decompose float32 matrices, 1e-4) and the same order up to near ties,
// MaxCorr also under a budget that streams several blocks through several
// sweeps, where TF32 scores stay within 3e-3 of the CPU's.
func TestGPUCrossCorrRank(t *testing.T) {
	g := &watched{Backend: device(t)}
	c := cpu.New()
	const tokens, n = 2000, 64
	models := memModels(t, tokens, latentActs(rand.New(rand.NewPCG(33, 34)), tokens, 8, n, n, n, n)...)
	for _, tc := range []struct {
		method crosscorr.Method
		p      engine.Precision
		memory int64
		tol    float64
	}{
		{crosscorr.MaxCorr, engine.FP32, 216 << 10, 1e-5},
		{crosscorr.MinCorr, engine.FP32, 0, 1e-5},
		{crosscorr.MaxCorr, engine.TF32, 216 << 10, 3e-3},
		{crosscorr.LinReg, engine.FP32, 0, 1e-4},
		{crosscorr.SVCCA, engine.FP32, 0, 1e-4},
	} {
		what := string(tc.method) + " " + tc.p.String()
		rc, err := crosscorr.Rank(c, models, tc.method, crosscorr.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rep := &passes{}
		uploads := g.uploads
		rg, err := crosscorr.Rank(g, models, tc.method, crosscorr.Options{Memory: tc.memory, Precision: tc.p, Progress: rep})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if g.uploads == uploads {
			t.Fatalf("%s: not the double-buffered path", what)
		}
		if blocks := rep.adds / max(rep.sweeps, 1); tc.memory != 0 && (rep.sweeps < 2 || blocks < 2) {
			t.Fatalf("%s: budget %d gave %d sweeps of %d blocks, want several", what, tc.memory, rep.sweeps, blocks)
		}
		for m := range models {
			mc, mg := rc.Models[m], rg.Models[m]
			score := map[int]float64{}
			for _, nr := range mc.Ranking {
				score[nr.Neuron] = nr.Score
			}
			for _, nr := range mg.Ranking {
				if math.Abs(nr.Score-score[nr.Neuron]) > tc.tol {
					t.Fatalf("%s, model %s, neuron %d: score %g on the GPU, %g on the CPU", what, mc.Model, nr.Neuron, nr.Score, score[nr.Neuron])
				}
			}
			if tc.p == engine.FP32 {
				sameOrder(t, what+" ranking of model "+mc.Model, mc.Order(), mg.Order(), func(j int) float64 { return score[j] }, tc.tol)
			}
		}
	}
}

// TestGPUCrossCorrNonFinite: on the double-buffered path, which checks
// block moments only after downloading them, a NaN or Inf is still named
// by model, token row and neuron.
func TestGPUCrossCorrNonFinite(t *testing.T) {
	g := device(t)
	const tokens, n, m = 12000, 6, 5
	acts := latentActs(rand.New(rand.NewPCG(35, 36)), tokens, 2, n, m)
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		acts[1][10321*m+3] = bad
		models := memModels(t, tokens, acts...)
		for _, memory := range []int64{0, 64 << 10} {
			_, err := crosscorr.Correlate(g, models[0], models[1], crosscorr.Options{Memory: memory})
			if err == nil {
				t.Fatalf("%v accepted", bad)
			}
			for _, want := range []string{`"B"`, "token row 10321", "neuron 3", "not finite"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("budget %d: error %q lacks %q", memory, err, want)
				}
			}
		}
	}
	if err := g.Sync(); err != nil {
		t.Fatalf("the device is left in error: %v", err)
	}
}
