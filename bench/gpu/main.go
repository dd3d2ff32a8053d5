// Command gpubench measures grain's CUDA backend against PyTorch on the same
// GPU in the same run (issue 5); bench/gpu/device_run.sh runs it on a lent
// GPU machine, where there is no Go: build it here with
//
//	make gpubench    (CGO flags for the CUDA build; see the Makefile)
//
// Subcommands:
//
//	gpubench info
//	    which device --device auto picks, and why, and what the CPU
//	    backend runs on (cores, BLAS: the ablation section's CPU side).
//	gpubench maxcorr [-n 4096 -m 4096 -tokens 100000,1000000 -prec fp32,tf32,bf16]
//	    MaxCorr on activations resident in GPU memory: column moments,
//	    standardize (rounded to the GEMM's input format), Z_Aᵀ·Z_B
//	    accumulated over token chunks, scale, abs-max per row and per
//	    column. Median of -reps timed runs after a warm-up;
//	    TFLOP/s-equivalent = 2·N·M·T / time. Then max |Δr| against a
//	    float64 reference for -sample neurons of A against all of B.
//	gpubench correlate [-tokens 100000]
//	    the same from host memory with analysis/crosscorr.Correlate (two
//	    streaming passes within -memory): on its double-buffered path
//	    (engine.AsyncUploader: page-locked buffers, a copy stream
//	    overlapping reads, copies and compute; engine.PreRounded GEMMs),
//	    then on its uploading path (pageable uploads, moments downloaded
//	    after every block), as before those interfaces were used.
//	gpubench probe [-rows 50000 -neurons 2048 -labels 45]
//	    probe training time-to-accuracy: the NeuroX protocol in PyTorch
//	    on the GPU (bench/probe/peer.py --device cuda, same data;
//	    GRAIN_PEER_DEVICE=cpu runs it on the CPU), then grain's fast and
//	    neurox modes with held-out accuracy traced after every epoch.
//
// Activations are a latent-factor model: x = Z·W + ε (Z: tokens × 32
// shared by both models, W per model, ε standard normal), built on the GPU
// for a pool of -pool tokens and repeated to T tokens, so the float64
// reference over T tokens is a weighted sum over the pool.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grainlab/grain/engine"
	_ "github.com/grainlab/grain/engine/cpu"  // registers "cpu"
	_ "github.com/grainlab/grain/engine/cuda" // registers "cuda" in builds with -tags grain_cuda
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gpubench info|maxcorr|correlate|probe [flags]")
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "info":
		err = infoCmd()
	case "maxcorr":
		err = maxcorrCmd(args)
	case "correlate":
		err = correlateCmd(args)
	case "probe":
		err = probeCmd(args)
	default:
		err = fmt.Errorf("unknown subcommand %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gpubench %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// infoCmd opens the device that "auto" resolves to, as grain's CLI does,
// and the CPU (whose BLAS the device run's CPU comparisons use).
func infoCmd() error {
	for _, dev := range []string{"auto", "cpu"} {
		b, err := engine.Open(dev, os.Stdout)
		if err != nil {
			return err
		}
		fmt.Printf("--device %s: %s\n", dev, b.Describe())
		if err := b.Close(); err != nil {
			return err
		}
	}
	fmt.Printf("drivers registered: %v\n", engine.Drivers())
	return nil
}

// open opens the device and prints what it is.
func open(device string) (engine.Backend, error) {
	b, err := engine.Open(device, os.Stderr)
	if err != nil {
		return nil, err
	}
	fmt.Printf("device: %s\n", b.Describe())
	return b, nil
}

// list splits a comma-separated flag value.
func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range list(s) {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64) // accepts 1e6
		if err != nil {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, int(v))
	}
	return out, nil
}

// parallelFor runs fn(i) for i in [0, n) on all cores.
func parallelFor(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// randnParallel fills x with standard normals, in chunks seeded by (seed,
// chunk), on all cores.
func randnParallel(x []float32, seed uint64) {
	const chunk = 1 << 20
	parallelFor((len(x)+chunk-1)/chunk, func(c int) {
		r := rand.New(rand.NewPCG(seed, uint64(c)))
		for i := c * chunk; i < min((c+1)*chunk, len(x)); i++ {
			x[i] = float32(r.NormFloat64())
		}
	})
}

// latentPools returns the pool activations of two models (pool × n and
// pool × m, row-major) on the host, built on the device: ε + Z·W_A and
// ε' + Z·W_B with a shared Z (pool × latent) and W scaled so that a
// neuron's variance is 1 + 1.
func latentPools(b engine.Backend, pool, n, m int, seed uint64) ([]float32, []float32, error) {
	const latent = 32
	z := make([]float32, pool*latent)
	randnParallel(z, seed)
	tz, err := engine.AllocFrom(b, pool, latent, z)
	if err != nil {
		return nil, nil, err
	}
	defer b.Free(tz)
	var out [2][]float32
	for k, cols := range []int{n, m} {
		w := make([]float32, latent*cols)
		randnParallel(w, seed+1+uint64(k))
		for i := range w {
			w[i] /= float32(math.Sqrt(latent))
		}
		x := make([]float32, pool*cols)
		randnParallel(x, seed+10+uint64(k))
		tw, err := engine.AllocFrom(b, latent, cols, w)
		if err != nil {
			return nil, nil, err
		}
		tx, err := engine.AllocFrom(b, pool, cols, x)
		if err != nil {
			return nil, nil, err
		}
		b.Gemm(false, false, 1, tz, tw, 1, tx, engine.FP32)
		if err := b.Download(x, tx); err != nil {
			return nil, nil, err
		}
		b.Free(tw)
		b.Free(tx)
		out[k] = x
	}
	return out[0], out[1], nil
}

// reference computes, in float64, the Pearson correlations over T tokens
// (token t is pool row t mod P) between the neurons rows of A and every
// neuron of B: r[i·m + j].
func reference(a, bp []float32, pool, n, m, tokens int, rows []int) []float64 {
	w := make([]float64, pool) // how often each pool row occurs
	for p := range w {
		w[p] = float64(tokens / pool)
		if p < tokens%pool {
			w[p]++
		}
	}
	T := float64(tokens)
	stats := func(x []float32, cols, j int) (mu, sd float64) {
		for p := 0; p < pool; p++ {
			mu += w[p] * float64(x[p*cols+j])
		}
		mu /= T
		var v float64
		for p := 0; p < pool; p++ {
			d := float64(x[p*cols+j]) - mu
			v += w[p] * d * d
		}
		return mu, math.Sqrt(v / T)
	}
	muB, sdB := make([]float64, m), make([]float64, m)
	parallelFor(m, func(j int) { muB[j], sdB[j] = stats(bp, m, j) })
	r := make([]float64, len(rows)*m)
	parallelFor(len(rows), func(k int) {
		i := rows[k]
		muA, sdA := stats(a, n, i)
		acc := make([]float64, m)
		for p := 0; p < pool; p++ {
			da := w[p] * (float64(a[p*n+i]) - muA)
			row := bp[p*m : (p+1)*m]
			for j, v := range row {
				acc[j] += da * (float64(v) - muB[j])
			}
		}
		for j := range acc {
			r[k*m+j] = acc[j] / T / (sdA * sdB[j])
		}
	})
	return r
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func flags(name string) *flag.FlagSet { return flag.NewFlagSet("gpubench "+name, flag.ExitOnError) }

func since(t time.Time) float64 { return time.Since(t).Seconds() }
