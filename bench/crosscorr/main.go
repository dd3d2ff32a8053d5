// Command crosscorr benchmarks grain's cross-model correlation (MaxCorr
// between two models of N and M neurons over T tokens) and compares it with
// NumPy + OpenBLAS (peer.py: standardize + GEMM + abs-max) on the same data,
// read by both from the same .npy files, in the same invocation. Every
// measurement runs in its own process, which reports its peak RSS (VmHWM).
//
//	crosscorr headline [-t 100000] [-n 1024] [-reps 3]   grain vs numpy, N = M
//	crosscorr scaling [-max-tokens 1000000]                time and memory over T, N·M
//	crosscorr gen -dir D -t T -n N -m M                    write D/a.npy, D/b.npy
//	crosscorr run -a A.npy -b B.npy [-mode read|view] [-memory BYTES] [-out F] [-progress] [-cpuprofile F]
//
// run prints one JSON line; -out writes model A's per-neuron best partner
// (int32 index, float32 r) for peer.py to compare. Mode read streams the
// files with pread into grain's blocks; mode view memory-maps them and
// reads the rows in place (crosscorr.RowViewer), so the mapped pages count
// in its RSS. Throughput is reported as GFLOP/s-equivalent:
// 2·N·M·T / seconds, from opening the files to the ranking. See run.sh.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grainlab/grain/analysis/crosscorr"
	"github.com/grainlab/grain/engine"
	_ "github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/progress"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "gen":
		genCmd(args)
	case "run":
		runCmd(args)
	case "headline":
		headlineCmd(args)
	case "scaling":
		scalingCmd(args)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: crosscorr gen|run|headline|scaling [flags] (see the package documentation)")
	os.Exit(2)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "crosscorr bench:", err)
		os.Exit(1)
	}
}

// generate writes dir/a.npy (T×N) and dir/b.npy (T×M): Gaussian neurons
// with their own means and scales, every 16th neuron of each model also
// carrying one of 8 latent signals shared by the two models.
func generate(dir string, T, N, M int, seed uint64) {
	check(os.MkdirAll(dir, 0o755))
	for mi, spec := range []struct {
		name string
		n    int
	}{{"a.npy", N}, {"b.npy", M}} {
		n := spec.n
		mu, sd := make([]float32, n), make([]float32, n)
		pr := rand.New(rand.NewPCG(seed, uint64(1000+mi)))
		for j := range n {
			mu[j], sd[j] = float32(3*pr.NormFloat64()), float32(0.5+2*pr.Float64())
		}
		fill := func(t0 int, rows []float32) {
			nr := len(rows) / n
			var wg sync.WaitGroup
			workers := runtime.GOMAXPROCS(0)
			for w := range workers {
				lo, hi := nr*w/workers, nr*(w+1)/workers
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := lo; r < hi; r++ {
						t := uint64(t0 + r)
						lat := rand.New(rand.NewPCG(seed, t))
						var s [8]float32
						for k := range s {
							s[k] = float32(lat.NormFloat64())
						}
						noise := rand.New(rand.NewPCG(seed^uint64(mi+1)<<32, t))
						row := rows[r*n : (r+1)*n]
						for j := range row {
							v := float32(noise.NormFloat64())
							if j%16 == mi {
								v += 1.5 * s[(j/16)%8]
							}
							row[j] = mu[j] + sd[j]*v
						}
					}
				}()
			}
			wg.Wait()
		}
		check(writeNpy(filepath.Join(dir, spec.name), T, n, fill))
	}
}

func genCmd(args []string) {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "output directory")
	T := fs.Int("t", 100000, "tokens")
	N := fs.Int("n", 1024, "neurons of model A")
	M := fs.Int("m", 1024, "neurons of model B")
	seed := fs.Uint64("seed", 1, "seed")
	fs.Parse(args)
	if *dir == "" {
		usage()
	}
	generate(*dir, *T, *N, *M, *seed)
}

// measurement is what one run reports.
type measurement struct {
	Tool       string  `json:"tool"`
	Mode       string  `json:"mode"`
	Tokens     int     `json:"tokens"`
	N          int     `json:"n"`
	M          int     `json:"m"`
	Memory     int64   `json:"memory_budget,omitempty"`
	Seconds    float64 `json:"seconds"`
	GFLOPS     float64 `json:"gflops_equiv"`
	VmHWM      int64   `json:"vmhwm_bytes"`
	InputBytes int64   `json:"input_bytes"`
	MaxDiff    float64 `json:"max_abs_diff_vs_grain,omitempty"`
	ArgAgree   float64 `json:"argmax_agreement,omitempty"`
	Compute    float64 `json:"compute_seconds,omitempty"`
}

// vmHWM is this process's peak resident set size in bytes.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			check(err)
			return kb << 10
		}
	}
	return 0
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	check(err)
	return st.Size()
}

type source interface {
	crosscorr.Source
	Close() error
}

func runCmd(args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	pa := fs.String("a", "", "model A .npy")
	pb := fs.String("b", "", "model B .npy")
	mode := fs.String("mode", "read", "read (pread into grain's blocks) or view (mmap, zero-copy)")
	memory := fs.Int64("memory", 0, "memory budget in bytes (0: grain's default, 2 GiB)")
	out := fs.String("out", "", "write model A's best partners here")
	device := fs.String("device", "cpu", "grain device")
	profile := fs.String("cpuprofile", "", "write a CPU profile here")
	verbose := fs.Bool("progress", false, "report progress on stderr")
	fs.Parse(args)
	be, err := engine.Open(*device, os.Stderr)
	check(err)
	if *profile != "" {
		f, err := os.Create(*profile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	rep := progress.Nop
	if *verbose {
		rep = progress.Terminal(os.Stderr)
	}
	start := time.Now()
	var srcs [2]source
	for k, p := range []string{*pa, *pb} {
		switch *mode {
		case "read":
			srcs[k], err = openNpy(p)
		case "view":
			srcs[k], err = mapNpy(p)
		default:
			err = fmt.Errorf("unknown mode %q", *mode)
		}
		check(err)
	}
	rk, err := crosscorr.Rank(be, []crosscorr.Model{{Name: "a", Source: srcs[0]}, {Name: "b", Source: srcs[1]}},
		crosscorr.MaxCorr, crosscorr.Options{Memory: *memory, Progress: rep})
	check(err)
	sec := time.Since(start).Seconds()
	T, N, M := srcs[0].NumTokens(), srcs[0].NumNeurons(), srcs[1].NumNeurons()
	for _, s := range srcs {
		s.Close()
	}
	if *out != "" {
		best := slices.Clone(rk.Models[0].Ranking)
		slices.SortFunc(best, func(x, y crosscorr.RankedNeuron) int { return x.Neuron - y.Neuron })
		var buf bytes.Buffer
		for _, n := range best {
			binary.Write(&buf, binary.LittleEndian, int32(n.Partner.Neuron))
		}
		for _, n := range best {
			binary.Write(&buf, binary.LittleEndian, float32(n.Partner.R))
		}
		check(os.WriteFile(*out, buf.Bytes(), 0o644))
	}
	m := measurement{Tool: "grain", Mode: *mode, Tokens: T, N: N, M: M, Memory: *memory, Seconds: sec,
		GFLOPS: 2 * float64(N) * float64(M) * float64(T) / sec / 1e9, VmHWM: vmHWM(),
		InputBytes: fileSize(*pa) + fileSize(*pb)}
	check(json.NewEncoder(os.Stdout).Encode(m))
}

// self runs this binary with args and decodes its JSON line.
func self(args ...string) measurement {
	exe, err := os.Executable()
	check(err)
	return decode(exec.Command(exe, args...))
}

func decode(cmd *exec.Cmd) measurement {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		check(fmt.Errorf("%v: %w", cmd.Args, err))
	}
	var m measurement
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	check(json.Unmarshal([]byte(lines[len(lines)-1]), &m))
	return m
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func scratchDir() string {
	d, err := os.MkdirTemp("", "grain-crosscorr-bench-")
	check(err)
	return d
}

func headlineCmd(args []string) {
	fs := flag.NewFlagSet("headline", flag.ExitOnError)
	T := fs.Int("t", 100000, "tokens")
	N := fs.Int("n", 1024, "neurons per model (N = M)")
	reps := fs.Int("reps", 3, "repetitions (interleaved; medians reported)")
	python := fs.String("python", "/usr/bin/python3", "python with numpy")
	fs.Parse(args)
	dir := scratchDir()
	defer os.RemoveAll(dir)
	fmt.Printf("# MaxCorr, N = M = %d, T = %d: grain vs numpy + OpenBLAS, same .npy files, %d interleaved runs (medians)\n", *N, *T, *reps)
	fmt.Printf("# load average before: %s\n", loadavg())
	g0 := time.Now()
	generate(dir, *T, *N, *N, 1)
	fmt.Printf("# data written in %.1f s\n", time.Since(g0).Seconds())
	pa, pb := filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.npy")
	peer := filepath.Join(filepath.Dir(must(os.Executable())), "peer.py")
	if _, err := os.Stat(peer); err != nil {
		peer = "bench/crosscorr/peer.py"
	}
	names := []string{"grain read", "grain view", "numpy"}
	runs := map[string][]measurement{}
	for range *reps {
		for _, mode := range []string{"read", "view"} {
			runs["grain "+mode] = append(runs["grain "+mode], self("run", "-a", pa, "-b", pb, "-mode", mode, "-out", filepath.Join(dir, "grain-"+mode+".bin")))
		}
		runs["numpy"] = append(runs["numpy"], decode(exec.Command(*python, peer, pa, pb, filepath.Join(dir, "grain-read.bin"))))
	}
	secs := func(name string) float64 {
		var v []float64
		for _, m := range runs[name] {
			v = append(v, m.Seconds)
		}
		return median(v)
	}
	np := secs("numpy")
	var npc []float64
	for _, m := range runs["numpy"] {
		npc = append(npc, m.Compute)
	}
	npCompute := median(npc)
	fmt.Printf("%-11s %8s %8s %9s %10s %9s %9s  %s\n", "tool", "seconds", "GFLOP/s", "vs numpy", "vs compute", "peak RSS", "RSS/input", "runs (s)")
	for _, name := range names {
		ms := runs[name]
		s := secs(name)
		var rss int64
		var all []string
		for _, m := range ms {
			rss = max(rss, m.VmHWM)
			all = append(all, fmt.Sprintf("%.2f", m.Seconds))
		}
		last := ms[len(ms)-1]
		fmt.Printf("%-11s %8.3f %8.1f %8.2fx %9.2fx %7.0f MB %9.2f  %s\n", name, s,
			2*float64(last.N)*float64(last.M)*float64(last.Tokens)/s/1e9, np/s, npCompute/s,
			float64(rss)/1e6, float64(rss)/float64(last.InputBytes), strings.Join(all, " "))
	}
	last := runs["numpy"][len(runs["numpy"])-1]
	fmt.Printf("# vs numpy: numpy's median time / grain's, end to end (both read the .npy files); vs compute: numpy without np.load (median %.3f s)\n", npCompute)
	fmt.Printf("# agreement, model A's best partners: max |r_grain − r_numpy| %.1e, same partner for %.2f%% of neurons\n", last.MaxDiff, 100*last.ArgAgree)
	fmt.Printf("# input %.0f MB (two float32 .npy files); load average after: %s\n", float64(last.InputBytes)/1e6, loadavg())
}

func must[T any](v T, err error) T {
	check(err)
	return v
}

func scalingCmd(args []string) {
	fs := flag.NewFlagSet("scaling", flag.ExitOnError)
	maxT := fs.Int("max-tokens", 1000000, "largest T")
	maxN := fs.Int("max-neurons", 8192, "largest N = M")
	fs.Parse(args)
	type cfg struct {
		T, N   int
		memory int64
	}
	var cfgs []cfg
	for _, c := range []cfg{
		{10000, 512, 0}, {100000, 512, 0}, {1000000, 512, 0},
		{100000, 256, 0}, {100000, 1024, 0}, {100000, 2048, 0}, {100000, 4096, 0},
		{10000, 8192, 0}, {10000, 8192, 256 << 20}, {30000, 8192, 0},
	} {
		if c.T <= *maxT && c.N <= *maxN {
			cfgs = append(cfgs, c)
		}
	}
	fmt.Printf("# MaxCorr scaling, grain on the CPU, pread mode, one process per row; load average before: %s\n", loadavg())
	fmt.Printf("%9s %6s %10s %9s %9s %12s %10s %10s %10s\n", "T", "N=M", "budget", "seconds", "GFLOP/s", "ps/(N·M·T)", "input", "peak RSS", "RSS/budget")
	var dir string
	var have cfg
	defer func() { os.RemoveAll(dir) }()
	for _, c := range cfgs {
		if c.T != have.T || c.N != have.N {
			os.RemoveAll(dir)
			dir = scratchDir()
			generate(dir, c.T, c.N, c.N, 2)
			have = c
		}
		m := self("run", "-a", filepath.Join(dir, "a.npy"), "-b", filepath.Join(dir, "b.npy"), "-mode", "read", "-memory", fmt.Sprint(c.memory))
		budget := c.memory
		if budget == 0 {
			budget = crosscorr.DefaultMemory
		}
		macs := float64(c.N) * float64(c.N) * float64(c.T)
		fmt.Printf("%9d %6d %10s %9.2f %9.1f %12.2f %8.0f MB %8.0f MB %10.2f\n", c.T, c.N, fmt.Sprintf("%d MiB", budget>>20), m.Seconds, m.GFLOPS,
			m.Seconds/macs*1e12, float64(m.InputBytes)/1e6, float64(m.VmHWM)/1e6, float64(m.VmHWM)/float64(budget))
	}
	fmt.Printf("# load average after: %s\n", loadavg())
}
