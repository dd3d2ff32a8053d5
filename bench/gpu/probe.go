package main

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/grainlab/grain/analysis/dataset"
	"github.com/grainlab/grain/analysis/probe"
	"github.com/grainlab/grain/analysis/synthetic"
	"github.com/grainlab/grain/bench/internal/neuroxpeer"
)

func probeCmd(args []string) error {
	fs := flags("probe")
	device := fs.String("device", "cuda", "grain device")
	rows := fs.Int("rows", 50000, "training tokens")
	test := fs.Int("test", 10000, "held-out tokens")
	neurons := fs.Int("neurons", 2048, "neurons")
	labels := fs.Int("labels", 45, "labels")
	python := fs.String("python", "python3", "python with torch and CUDA ('' skips the peer)")
	peer := fs.String("peer", "bench/probe/peer.py", "the PyTorch peer script (the NeuroX protocol)")
	dir := fs.String("dir", "", "folder for the data handed to the peer (default: /dev/shm, else the temporary folder)")
	modes := fs.String("modes", "fast,neurox", "grain modes")
	torchEpochs := fs.Int("torch-epochs", 10, "epochs of the NeuroX protocol in torch")
	minSteps := fs.Int("min-steps", 0, "fast mode's step floor (0: its default; it binds below ≈ 22,400 rows, e.g. at the emulator's sizes)")
	fs.Parse(args)
	b, err := open(*device)
	if err != nil {
		return err
	}
	t0 := time.Now()
	// synthetic.DefaultTeacher's recipe at the requested size, generated
	// on all cores in chunks of 1024 rows.
	tc := synthetic.DefaultTeacher()
	tc.Rows, tc.Neurons, tc.Labels = *rows+*test, *neurons, *labels
	all := synthetic.TeacherChunked(tc, 1024)
	train, err := all.Subset([]dataset.Span{{Start: 0, End: *rows}})
	if err != nil {
		return err
	}
	held, err := all.Subset([]dataset.Span{{Start: *rows, End: *rows + *test}})
	if err != nil {
		return err
	}
	xs := all.X.(*dataset.Dense).Data
	train.X = &dataset.Dense{Data: xs[:*rows**neurons], Rows: *rows, Cols: *neurons}
	held.X = &dataset.Dense{Data: xs[*rows**neurons:], Rows: *test, Cols: *neurons}
	fmt.Printf("workload: %d train + %d held-out tokens × %d neurons × %d labels (generated in %.1f s)\n", *rows, *test, *neurons, *labels, since(t0))

	var torchSecs, torchAcc float64
	if *python != "" {
		d := *dir
		if d == "" {
			d = os.TempDir()
			var st syscall.Statfs_t
			need := 4 * uint64(*rows+*test) * uint64(*neurons+1)
			if syscall.Statfs("/dev/shm", &st) == nil && st.Bavail*uint64(st.Bsize) > need+need/4 {
				d = "/dev/shm"
			}
		}
		d, err = os.MkdirTemp(d, "gpubench-probe")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		t1 := time.Now()
		if err := neuroxpeer.Write(d, xs[:*rows**neurons], train.Y, xs[*rows**neurons:], held.Y); err != nil {
			return err
		}
		fmt.Printf("data written for the peer in %.1f s\n", since(t1))
		peerDevice := cmp.Or(os.Getenv("GRAIN_PEER_DEVICE"), "cuda")
		cmd := exec.Command(*python, *peer, d, fmt.Sprint(*rows), fmt.Sprint(*neurons), fmt.Sprint(*labels),
			"--epochs", fmt.Sprint(*torchEpochs), "--device", peerDevice)
		cmd.Stderr = os.Stderr
		// The peer dies with us (the device script's time limits kill us).
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.Output()
		fmt.Print(string(out))
		if err != nil { // grain still runs, without the ratios
			fmt.Printf("torch peer failed: %v\n", err)
		}
		if err == nil {
			if torchSecs, torchAcc, err = neuroxpeer.Result(string(out)); err != nil {
				fmt.Printf("torch peer: %v\n", err)
			}
		}

		os.RemoveAll(d)
	}

	maj := probe.MajorityOf(train.Y, len(train.Labels))
	for _, m := range list(*modes) {
		mode, err := probe.ParseMode(m)
		if err != nil {
			return err
		}
		cfg := probe.DefaultConfig(mode)
		cfg.MemoryBudget = 64 << 30 // keep the training set resident, as torch does
		if *minSteps > 0 {
			cfg.MinSteps = *minSteps
		}
		var trace []string
		var scoring time.Duration
		reached := -1.0
		start := time.Now()
		cfg.AfterEpoch = func(epoch int, cur *probe.Probe) error {
			t := time.Now()
			met, err := probe.Evaluate(b, cur, held, maj)
			scoring += time.Since(t)
			at := (time.Since(start) - scoring).Seconds()
			trace = append(trace, fmt.Sprintf("%d:%.4f@%.3fs", epoch, met.Accuracy, at))
			if reached < 0 && torchAcc > 0 && met.Accuracy >= torchAcc {
				reached = at
			}
			return err
		}
		p, log, err := probe.Train(b, train, cfg, nil)
		if err != nil {
			return err
		}
		el := (time.Since(start) - scoring).Seconds()
		met, err := probe.Evaluate(b, p, held, maj)
		if err != nil {
			return err
		}
		staging := log.Staging.Seconds()
		fmt.Printf("grain %-6s: %7.3f s, %2d epochs (kept %d), held-out accuracy %.4f\n", mode, el, len(log.Epochs), log.BestEpoch, met.Accuracy)
		fmt.Printf("  staging its training rows on the device took %.3f s (probe.Log.Staging)\n", staging)
		fmt.Printf("  by epoch (epoch:accuracy@training seconds, staging included): %s\n", strings.Join(trace, " "))
		line := fmt.Sprintf("RESULT probe grain-%s rows=%d neurons=%d s=%.3f acc=%.4f", mode, *rows, *neurons, el, met.Accuracy)
		if torchSecs > 0 {
			if reached > 0 {
				net := reached - staging
				fmt.Printf("  reaches torch's %.4f after %.3f s (%.3f s without staging the data): %.1fx (%.1fx) faster than the NeuroX protocol in torch (%.2f s)\n",
					torchAcc, reached, net, torchSecs/reached, torchSecs/net, torchSecs)
				line += fmt.Sprintf(" time_to_torch_acc=%.3f speedup=%.1f speedup_without_staging=%.1f", reached, torchSecs/reached, torchSecs/net)
			} else {
				fmt.Printf("  does not reach torch's %.4f\n", torchAcc)
			}
		}
		fmt.Println(line)
	}
	return b.Close()
}
