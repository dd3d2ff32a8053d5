// Command probe benchmarks probe training time-to-accuracy on the seeded
// synthetic teacher workload (50,000 training tokens × 2,048 neurons × 45
// labels, plus 10,000 held-out tokens): grain's neurox mode, grain's fast
// mode, and the NeuroX protocol in PyTorch (peer.py, run in the same
// invocation on the same data), printing times and ratios.
//
//	go run ./bench/probe [-python /usr/bin/python3] [-skip-torch] [-rows R] [-neurons N] [-min-steps S]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/bench/internal/neuroxpeer"
	"github.com/grainlab/grain/engine"
	_ "github.com/grainlab/grain/engine/cpu" // registers the "cpu" device
	"github.com/grainlab/grain/engine/progress"
)

func main() {
	python := flag.String("python", "/usr/bin/python3", "python with torch 1.13+ for the peer run")
	skipTorch := flag.Bool("skip-torch", false, "do not run the PyTorch peer")
	rows := flag.Int("rows", 50000, "training tokens")
	neurons := flag.Int("neurons", 2048, "neurons")
	labels := flag.Int("labels", 45, "labels")
	device := flag.String("device", "cpu", "grain device")
	modes := flag.String("modes", "neurox,fast", "grain modes to run")
	minSteps := flag.Int("min-steps", 0, "fast mode's step floor (0: its default)")
	flag.Parse()

	b, err := engine.Open(*device, os.Stderr)
	check(err)
	tc := synthetic.DefaultTeacher()
	tc.Rows, tc.Neurons, tc.Labels = *rows+10000, *neurons, *labels
	t0 := time.Now()
	all := synthetic.Teacher(tc)
	train, err := all.Subset([]dataset.Span{{Start: 0, End: *rows}})
	check(err)
	test, err := all.Subset([]dataset.Span{{Start: *rows, End: *rows + 10000}})
	check(err)
	// Materialise the views so both sides train on plain in-memory arrays.
	trainX, err := dataset.Load(train.X)
	check(err)
	testX, err := dataset.Load(test.X)
	check(err)
	train.X, test.X = trainX, testX
	fmt.Printf("workload: %d train + %d test tokens × %d neurons × %d labels (generated in %v)\n", *rows, 10000, *neurons, *labels, time.Since(t0).Round(time.Millisecond))
	fmt.Printf("machine: %s, %s\n", cpuModel(), b.Describe())
	maj := probe.MajorityOf(train.Y, len(train.Labels))

	results := map[string][2]float64{}
	for _, m := range strings.Split(*modes, ",") {
		mode, err := probe.ParseMode(m)
		check(err)
		cfg := probe.DefaultConfig(mode)
		if *minSteps > 0 {
			cfg.MinSteps = *minSteps
		}
		// Trace held-out accuracy after every epoch; the time spent scoring
		// is excluded from the training clock.
		var trace []string
		var scoring time.Duration
		start := time.Now()
		cfg.AfterEpoch = func(epoch int, cur *probe.Probe) error {
			t0 := time.Now()
			m, err := probe.Evaluate(b, cur, test, maj)
			scoring += time.Since(t0)
			trace = append(trace, fmt.Sprintf("%d:%.4f@%.2fs", epoch, m.Accuracy, (time.Since(start)-scoring).Seconds()))
			return err
		}
		p, log, err := probe.Train(b, train, cfg, progress.Terminal(os.Stderr))
		check(err)
		el := (time.Since(start) - scoring).Seconds()
		met, err := probe.Evaluate(b, p, test, maj)
		check(err)
		fmt.Printf("grain %-6s: %6.2f s, %2d epochs (kept %d), test accuracy %.4f\n", mode, el, len(log.Epochs), log.BestEpoch, met.Accuracy)
		fmt.Printf("  test accuracy by epoch (epoch:accuracy@training seconds): %s\n", strings.Join(trace, " "))
		results[m] = [2]float64{el, met.Accuracy}
	}
	if !*skipTorch {
		dir, err := os.MkdirTemp("", "grain-bench-probe")
		check(err)
		defer os.RemoveAll(dir)
		check(neuroxpeer.Write(dir, trainX.Data, train.Y, testX.Data, test.Y))
		_, self, _, _ := runtime.Caller(0)
		// Torch runs once on one thread and once on all cores; the faster
		// run is the baseline (small batches are often faster on one).
		var secs, acc float64
		for _, threads := range []int{1, runtime.NumCPU()} {
			cmd := exec.Command(*python, filepath.Join(filepath.Dir(self), "peer.py"), dir,
				fmt.Sprint(*rows), fmt.Sprint(*neurons), fmt.Sprint(*labels), "--threads", fmt.Sprint(threads), "--device", "cpu")
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			check(err)
			fmt.Print(string(out))
			s, a, err := neuroxpeer.Result(string(out))
			check(err)
			if secs == 0 || s < secs {
				secs, acc = s, a
			}
		}
		if secs > 0 {
			for m, r := range results {
				fmt.Printf("ratio torch/grain-%s time: %.2fx (accuracy %.4f vs torch %.4f)\n", m, secs/r[0], r[1], acc)
			}
		}
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				return strings.TrimSpace(l[strings.Index(l, ":")+1:]) + fmt.Sprintf(" ×%d", runtime.NumCPU())
			}
		}
	}
	return runtime.GOARCH
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/probe:", err)
		os.Exit(1)
	}
}
