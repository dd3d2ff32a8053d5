// Command gemm measures SGEMM GFLOP/s through grain's engine (CPU backend)
// beside numpy's matmul on the same machine in the same run, at n×n×n for
// the sizes given.
//
//	go run ./bench/gemm [-sizes 512,1024,2048] [-python /usr/bin/python3]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
)

const peer = `
import sys, time, numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(7)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
c = a @ b
best = 1e9
for _ in range(reps):
    t = time.perf_counter(); c = a @ b; best = min(best, time.perf_counter() - t)
print(best)
`

func main() {
	sizes := flag.String("sizes", "512,1024,2048", "matrix sizes")
	python := flag.String("python", "/usr/bin/python3", "python with numpy")
	reps := flag.Int("reps", 5, "repetitions (best is reported)")
	flag.Parse()
	b := cpu.New()
	fmt.Printf("%s\n", b.Describe())
	fmt.Printf("%6s  %12s  %12s  %6s\n", "n", "grain GF/s", "numpy GF/s", "ratio")
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		g := grain(b, n, *reps)
		out, err := exec.Command(*python, "-c", peer, fmt.Sprint(n), fmt.Sprint(*reps)).Output()
		np := 0.0
		if err == nil {
			if s, perr := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); perr == nil {
				np = 2 * float64(n) * float64(n) * float64(n) / s / 1e9
			}
		} else {
			fmt.Fprintln(os.Stderr, "numpy peer:", err)
		}
		ratio := "-"
		if np > 0 {
			ratio = fmt.Sprintf("%.2f", g/np)
		}
		fmt.Printf("%6d  %12.1f  %12.1f  %6s\n", n, g, np, ratio)
	}
}

func grain(b engine.Backend, n, reps int) float64 {
	r := rand.New(rand.NewPCG(7, 7))
	data := func() []float32 {
		x := make([]float32, n*n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	x, _ := engine.AllocFrom(b, n, n, data())
	y, _ := engine.AllocFrom(b, n, n, data())
	c, _ := b.Alloc(n, n, engine.Float32)
	b.Gemm(false, false, 1, x, y, 0, c, engine.FP32)
	best := time.Hour
	for i := 0; i < reps; i++ {
		t := time.Now()
		b.Gemm(false, false, 1, x, y, 0, c, engine.FP32)
		b.Sync()
		best = min(best, time.Since(t))
	}
	return 2 * float64(n) * float64(n) * float64(n) / best.Seconds() / 1e9
}
