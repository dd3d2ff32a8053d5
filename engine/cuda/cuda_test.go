//go:build grain_cuda

package cuda_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grainlab/grain/engine"
	_ "github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/cuda"
	"github.com/grainlab/grain/engine/enginetest"
)

// Tests named TestGPU* need a usable CUDA device: without one they skip,
// saying why. TestEmulated runs them all in a child process on grain's CPU
// emulation of the driver, cuBLAS and the kernels (engine/cuda/emu), so
// that they run on every machine; on a GPU machine they also run as they
// are.

// requireGPU skips the test when no GPU is usable.
func requireGPU(t *testing.T) {
	t.Helper()
	if ok, why := cuda.Available(); !ok {
		t.Skipf("no usable GPU: %s (TestEmulated runs this test on the CPU emulation)", why)
	}
}

// device opens cuda:0, closing it at the end of the test, or skips the
// test when no GPU is usable.
func device(t *testing.T) *cuda.Backend {
	t.Helper()
	requireGPU(t)
	b, err := cuda.Open(0)
	if err != nil {
		t.Fatalf("a GPU is available but cuda:0 does not open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func TestGPUConformance(t *testing.T) {
	b := device(t)
	t.Log(b.Describe())
	enginetest.Run(t, b)
	t.Run("NN", func(t *testing.T) { enginetest.RunNN(t, b) })
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

// emulator returns the path of the emulator library, or skips.
func emulator(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GRAIN_CUDA_EMU")
	if p == "" {
		p = filepath.Join("..", "..", ".cuda", "lib", "libgrainemu.so")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Skipf("the CUDA emulator is not built (%v): run `make cuda`", err)
	}
	return abs
}

// child runs the tests matching run in a new process of this test binary
// with extra environment variables, and returns its output.
func child(t *testing.T, run string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", run, "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestEmulated(t *testing.T) {
	emu := emulator(t)
	out, err := child(t, "^TestGPU", "GRAIN_LIBCUDA="+emu, "GRAIN_CUBLAS="+emu)
	if err != nil {
		t.Fatalf("the GPU tests failed on the emulator: %v\n%s", err, out)
	}
	ran := regexp.MustCompile(`(?m)^--- PASS: (TestGPU\w+) `).FindAllStringSubmatch(out, -1)
	if strings.Contains(out, "--- SKIP: TestGPU") || len(ran) < 5 {
		t.Fatalf("the GPU tests did not all run on the emulator:\n%s", out)
	}
	for _, m := range ran {
		t.Logf("passed on the emulator: %s", m[1])
	}
	// Threads in the opposite order between barriers: a missing barrier
	// would change results.
	out, err = child(t, "^TestGPUConformance$", "GRAIN_LIBCUDA="+emu, "GRAIN_CUBLAS="+emu, "GRAIN_EMU_ORDER=reverse")
	if err != nil || !strings.Contains(out, "--- PASS: TestGPUConformance") {
		t.Fatalf("the conformance suite failed on the emulator with threads in reverse order: %v\n%s", err, out)
	}
}

// TestNoDriver checks the fallback of a cuda-enabled binary on a machine
// without an NVIDIA driver: the driver is unavailable with a reason, "auto"
// uses the CPU after one line of notice, and "cuda" is a clear error.
func TestNoDriver(t *testing.T) {
	if os.Getenv("GRAIN_CUDA_TEST_CHILD") == "nodriver" {
		ok, why := cuda.Available()
		if ok || !strings.Contains(why, "no NVIDIA driver") || !strings.Contains(why, "/nonexistent/libcuda.so.1") {
			t.Fatalf("Available() = %v, %q", ok, why)
		}
		var notice bytes.Buffer
		b, err := engine.Open("auto", &notice)
		if err != nil || b.Name() != "cpu" {
			t.Fatalf(`Open("auto") = %v, %v`, b, err)
		}
		lines := strings.Split(strings.TrimSpace(notice.String()), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "grain: no usable GPU (no NVIDIA driver") || !strings.HasSuffix(lines[0], "using the CPU") {
			t.Fatalf("notice %q, want one line saying why and that the CPU is used", notice.String())
		}
		if _, err := engine.Open("cuda", nil); err == nil || !strings.Contains(err.Error(), "no NVIDIA driver") {
			t.Fatalf(`Open("cuda") error %v`, err)
		}
		// The CPU still computes.
		x, _ := engine.AllocFrom(b, 1, 3, []float32{1, 2, 3})
		s, _ := b.Alloc(1, 1, engine.Float64)
		b.SumSquares(s, x)
		got := make([]float64, 1)
		if err := b.Download(got, s); err != nil || got[0] != 14 {
			t.Fatalf("CPU fallback computed %v, %v", got, err)
		}
		return
	}
	out, err := child(t, "^TestNoDriver$", "GRAIN_CUDA_TEST_CHILD=nodriver", "GRAIN_LIBCUDA=/nonexistent/libcuda.so.1")
	if err != nil || !strings.Contains(out, "--- PASS: TestNoDriver") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestCublasMissing checks that GRAIN_CUBLAS pointing nowhere makes the GPU
// unusable with a message naming the variable (on the emulated driver).
func TestCublasMissing(t *testing.T) {
	if os.Getenv("GRAIN_CUDA_TEST_CHILD") == "nocublas" {
		ok, why := cuda.Available()
		if ok || !strings.Contains(why, "cuBLAS could not be loaded: GRAIN_CUBLAS=/nonexistent/libcublas.so") {
			t.Fatalf("Available() = %v, %q", ok, why)
		}
		_, err := engine.Open("cuda:0", nil)
		if err == nil || !strings.Contains(err.Error(), "GRAIN_CUBLAS=/nonexistent/libcublas.so") {
			t.Fatalf(`Open("cuda:0") error %v`, err)
		}
		var notice bytes.Buffer
		if b, err := engine.Open("auto", &notice); err != nil || b.Name() != "cpu" || !strings.Contains(notice.String(), "cuBLAS could not be loaded") {
			t.Fatalf(`Open("auto") = %v, %v, notice %q`, b, err, notice.String())
		}
		return
	}
	emu := emulator(t)
	out, err := child(t, "^TestCublasMissing$", "GRAIN_CUDA_TEST_CHILD=nocublas", "GRAIN_LIBCUDA="+emu, "GRAIN_CUBLAS=/nonexistent/libcublas.so")
	if err != nil || !strings.Contains(out, "--- PASS: TestCublasMissing") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestLaunchFailureIsSticky makes the emulator fail a kernel launch the way
// a GPU reports an asynchronous fault: Sync, Download and Alloc return the
// error from then on.
func TestLaunchFailureIsSticky(t *testing.T) {
	if os.Getenv("GRAIN_CUDA_TEST_CHILD") == "launchfail" {
		b, err := cuda.Open(0)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := engine.AllocFrom(b, 4, 4, make([]float32, 16))
		b.Fill(x, 1)  // launch 1
		b.Scale(x, 2) // launch 2 fails
		b.Fill(x, 3)  // skipped
		// As on a GPU, the fault surfaces at a later call.
		err = b.Sync()
		if err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_LAUNCH_FAILED") {
			t.Fatalf("Sync after a failed launch: %v", err)
		}
		if err2 := b.Download(make([]float32, 16), x); err2 == nil {
			t.Fatal("Download after a failed launch succeeded")
		}
		if _, err3 := b.Alloc(1, 1, engine.Float32); err3 == nil {
			t.Fatal("Alloc after a failed launch succeeded")
		}
		return
	}
	emu := emulator(t)
	out, err := child(t, "^TestLaunchFailureIsSticky$", "GRAIN_CUDA_TEST_CHILD=launchfail", "GRAIN_LIBCUDA="+emu,
		"GRAIN_CUBLAS="+emu, "GRAIN_EMU_FAIL_LAUNCH=2")
	if err != nil || !strings.Contains(out, "--- PASS: TestLaunchFailureIsSticky") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestGPUDeviceErrors checks errors that a device cannot raise as panics
// (the CPU backend panics on them): an index, id, length or label out of
// range that a kernel finds becomes a sticky error naming the operation.
func TestGPUDeviceErrors(t *testing.T) {
	requireGPU(t)
	for _, c := range []struct {
		name string
		op   func(b *cuda.Backend)
	}{
		{"GatherColumns", func(b *cuda.Backend) {
			x, _ := engine.AllocFrom(b, 3, 4, make([]float32, 12))
			idx, _ := engine.AllocFrom(b, 1, 2, []int32{1, 4})
			d, _ := b.Alloc(3, 2, engine.Float32)
			b.GatherColumns(d, x, idx)
		}},
		{"SoftmaxCrossEntropy", func(b *cuda.Backend) {
			x, _ := engine.AllocFrom(b, 2, 3, []float32{1, 2, 3, 4, 5, 6})
			lab, _ := engine.AllocFrom(b, 2, 1, []int32{-1, 3}) // -1 is padding, 3 ≥ k
			loss, _ := b.Alloc(1, 1, engine.Float64)
			b.SoftmaxCrossEntropyMasked(x, lab, nil, loss, 1)
		}},
		{"Embedding", func(b *cuda.Backend) {
			table, _ := engine.AllocFrom(b, 3, 2, []float32{1, 2, 3, 4, 5, 6})
			ids, _ := engine.AllocFrom(b, 2, 1, []int32{0, 3})
			mask, _ := engine.AllocFrom(b, 1, 2, []float32{1, 1})
			d, _ := b.Alloc(2, 2, engine.Float32)
			b.EmbeddingForward(d, table, ids, mask)
		}},
		{"AttentionForward", func(b *cuda.Backend) {
			q, _ := engine.AllocFrom(b, 1, 2, []float32{1, 2})
			kv, _ := engine.AllocFrom(b, 2, 2, []float32{1, 2, 3, 4})
			lens, _ := engine.AllocFrom(b, 1, 1, []int32{3}) // S = 2
			probs, _ := b.Alloc(1, 2, engine.Float32)
			ctx, _ := b.Alloc(1, 2, engine.Float32)
			b.AttentionForward(q, kv, kv, lens, probs, ctx)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := cuda.Open(0)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close() // returns the sticky error
			later, err := b.Alloc(1, 1, engine.Float32)
			if err != nil {
				t.Fatal(err)
			}
			c.op(b)
			err = b.Sync()
			if err == nil || !strings.Contains(err.Error(), c.name) {
				t.Fatalf("Sync after a bad operand: %v", err)
			}
			if err := b.Download(make([]float32, 1), later); err == nil {
				t.Fatal("the error is not sticky")
			}
		})
	}
}

func TestGPUOutOfMemory(t *testing.T) {
	b := device(t)
	_, err := b.Alloc(1<<20, 1<<20, engine.Float64) // 8 TiB
	if !errors.Is(err, cuda.ErrOutOfMemory) || !strings.Contains(err.Error(), "8.0 TiB") && !strings.Contains(err.Error(), "8192.0 GiB") {
		t.Fatalf("Alloc of 8 TiB: %v", err)
	}
	// Out of memory is not a device fault: the backend still works.
	x, err := engine.AllocFrom(b, 1, 2, []float32{3, 4})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := b.Alloc(1, 1, engine.Float64)
	b.SumSquares(s, x)
	got := make([]float64, 1)
	if err := b.Download(got, s); err != nil || got[0] != 25 {
		t.Fatalf("after an out-of-memory error: %v, %v", got, err)
	}
}

func randn(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestGPUGemmBatched compares the strided-batched GEMM with one Gemm per
// batch on the CPU.
func TestGPUGemmBatched(t *testing.T) {
	b := device(t)
	cpu, _ := engine.Open("cpu", nil)
	r := rand.New(rand.NewPCG(5, 6))
	const batch, m, n, k = 3, 7, 5, 9
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		ar, ac := m, k
		if tr[0] {
			ar, ac = k, m
		}
		br, bc := k, n
		if tr[1] {
			br, bc = n, k
		}
		a, bb, c := randn(r, batch*ar*ac), randn(r, batch*br*bc), randn(r, batch*m*n)
		ga, _ := engine.AllocFrom(b, batch*ar, ac, a)
		gb, _ := engine.AllocFrom(b, batch*br, bc, bb)
		gc, _ := engine.AllocFrom(b, batch*m, n, c)
		b.GemmBatched(tr[0], tr[1], batch, 0.5, ga, gb, -1, gc, engine.FP32)
		got := make([]float32, batch*m*n)
		if err := b.Download(got, gc); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < batch; i++ {
			ca, _ := engine.AllocFrom(cpu, ar, ac, a[i*ar*ac:(i+1)*ar*ac])
			cb, _ := engine.AllocFrom(cpu, br, bc, bb[i*br*bc:(i+1)*br*bc])
			cc, _ := engine.AllocFrom(cpu, m, n, append([]float32(nil), c[i*m*n:(i+1)*m*n]...))
			cpu.Gemm(tr[0], tr[1], 0.5, ca, cb, -1, cc, engine.FP32)
			want := make([]float32, m*n)
			cpu.Download(want, cc)
			for j, w := range want {
				if g := got[i*m*n+j]; math.Abs(float64(g-w)) > 1e-5*(1+math.Abs(float64(w))) {
					t.Fatalf("trans %v batch %d [%d] = %g, want %g", tr, i, j, g, w)
				}
			}
		}
	}
}

// TestGPUGemmTF32Large checks the precision in effect on a product large
// enough for tensor-core kernels: every input is 1+2⁻¹², which TF32 rounds
// to 1, so each result is exactly k.
func TestGPUGemmTF32Large(t *testing.T) {
	b := device(t)
	n, k := 512, 2048
	if strings.Contains(b.Describe(), "emulator") {
		n, k = 64, 256
	}
	x := make([]float32, n*k)
	for i := range x {
		x[i] = 1 + 1.0/4096
	}
	a, _ := engine.AllocFrom(b, n, k, x)
	c, _ := b.Alloc(n, n, engine.Float32)
	got := make([]float32, n*n)
	for _, p := range []engine.Precision{engine.TF32, engine.BF16, engine.FP32} {
		b.Gemm(false, true, 1, a, a, 0, c, p)
		if err := b.Download(got, c); err != nil {
			t.Fatal(err)
		}
		want := float32(k)
		if p == engine.FP32 {
			want = float32(float64(k) * (1 + 1.0/4096) * (1 + 1.0/4096))
		}
		for i, g := range got {
			if p != engine.FP32 && g != want || p == engine.FP32 && math.Abs(float64(g-want)) > 1e-5*float64(want) {
				t.Fatalf("%v: C[%d] = %.9g, want %.9g", p, i, g, want)
			}
		}
	}
}

// TestGPUAsyncUpload streams blocks through two staging buffers and two
// device blocks as engine.AsyncUploader prescribes, summing the columns of
// every block, and compares with the sums on the host.
func TestGPUAsyncUpload(t *testing.T) {
	b := device(t)
	var up engine.AsyncUploader = b
	const rows, cols, blocks = 50, 7, 9
	var stage [2]engine.Staging
	var dev [2]*engine.Tensor
	var used [2]engine.Event
	for k := range stage {
		s, err := up.NewStaging(rows * cols)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Free()
		stage[k] = s
		dev[k], _ = b.Alloc(rows, cols, engine.Float32)
	}
	sums, _ := b.Alloc(blocks, cols, engine.Float64)
	// The first copies into each buffer come after its allocation's zero-fill.
	allocated, err := up.Record()
	if err != nil {
		t.Fatal(err)
	}
	used = [2]engine.Event{allocated, allocated}
	want := make([]float64, blocks*cols)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < blocks; i++ {
		k := i % 2
		if err := stage[k].Wait(); err != nil {
			t.Fatal(err)
		}
		h := stage[k].Float32s()
		for j := range h {
			h[j] = float32(r.IntN(1000))
			want[i*cols+j%cols] += float64(h[j])
		}
		up.UploadAsync(dev[k], stage[k], used[k])
		b.SumCols(sums.Slice(i, i+1), dev[k])
		ev, err := up.Record()
		if err != nil {
			t.Fatal(err)
		}
		used[k] = ev
	}
	if err := used[(blocks-1)%2].Wait(); err != nil {
		t.Fatal(err)
	}
	got := make([]float64, blocks*cols)
	if err := b.Download(got, sums); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("block %d column %d: sum %g, want %g", i/cols, i%cols, got[i], want[i])
		}
	}
}

// TestGPUEmpty runs operations on empty tensors and a GEMM with k = 0,
// paths where no kernel may be launched with an empty grid.
func TestGPUEmpty(t *testing.T) {
	b := device(t)
	e, err := b.Alloc(0, 5, engine.Float32)
	if err != nil {
		t.Fatal(err)
	}
	b.Upload(e, []float32{})
	b.Fill(e, 1)
	b.Scale(e, 2)
	b.Standardize(e, e, mustUpload(t, b, []float32{1, 2, 3, 4, 5}), mustUpload(t, b, []float32{1, 1, 1, 1, 1}))
	s64, _ := engine.AllocFrom(b, 1, 5, []float64{9, 9, 9, 9, 9})
	b.SumCols(s64, e)
	mean, _ := engine.AllocFrom(b, 1, 5, []float64{9, 9, 9, 9, 9})
	m2, _ := engine.AllocFrom(b, 1, 5, []float64{9, 9, 9, 9, 9})
	b.ColMoments(e, mean, m2)
	sq, _ := engine.AllocFrom(b, 1, 1, []float64{9})
	b.SumSquares(sq, e)
	// C = beta·C when k = 0, and C = 0 (over NaN) when beta = 0 too.
	a, _ := b.Alloc(3, 0, engine.Float32)
	bb, _ := b.Alloc(0, 2, engine.Float32)
	c, _ := engine.AllocFrom(b, 3, 2, []float32{1, 2, 3, 4, 5, float32(math.NaN())})
	b.Gemm(false, false, 1, a, bb, 0.5, c, engine.TF32)
	got := make([]float32, 6)
	if err := b.Download(got, c); err != nil {
		t.Fatal(err)
	}
	if got[0] != 0.5 || got[4] != 2.5 {
		t.Fatalf("k = 0, beta = 0.5: %v", got)
	}
	b.Gemm(false, false, 1, a, bb, 0, c, engine.FP32)
	b.Download(got, c)
	for _, v := range got {
		if v != 0 {
			t.Fatalf("k = 0, beta = 0: %v", got)
		}
	}
	for _, x := range []*engine.Tensor{s64, mean, m2, sq} {
		h := make([]float64, x.Len())
		if err := b.Download(h, x); err != nil {
			t.Fatal(err)
		}
		for _, v := range h {
			if v != 0 {
				t.Fatalf("reduction over no rows gave %v", h)
			}
		}
	}
	if err := b.Download([]float32{}, e); err != nil {
		t.Fatal(err)
	}
}

func mustUpload(t *testing.T, b engine.Backend, x []float32) *engine.Tensor {
	t.Helper()
	g, err := engine.AllocFrom(b, 1, len(x), x)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
