// Command nn benchmarks grain's NMT and NLM on Multi30k on this machine:
// training tokens/s (Adam steps on real batches, dropout on), evaluation
// tokens/s with and without a neuron mask (the cost of masking), greedy
// translation tokens/s, and the same architecture in PyTorch (peer.py,
// Debian's torch 1.13, run in the same invocation on the same batches'
// shapes) for comparison. With -device-path the models run on the CPU
// seen as a device backend (enginetest.Hostless), and each phase also
// reports the bytes it moved between host and "device": what a GPU run
// moves over PCIe.
//
//	go run ./bench/nn [-models nmt,nlm] [-steps 40] [-skip-torch] [-device-path] [-cpuprofile f]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/grainlab/grain/analysis/corpus"
	"github.com/grainlab/grain/engine"
	_ "github.com/grainlab/grain/engine/cpu" // registers the "cpu" device
	"github.com/grainlab/grain/engine/enginetest"
	"github.com/grainlab/grain/nn/batch"
	"github.com/grainlab/grain/nn/decode"
	"github.com/grainlab/grain/nn/model"
	"github.com/grainlab/grain/nn/train"
	"github.com/grainlab/grain/nn/vocab"
)

func main() {
	models := flag.String("models", "nmt,nlm", "models to benchmark")
	steps := flag.Int("steps", 40, "training steps to time")
	bsz := flag.Int("batch", 64, "batch size")
	hidden := flag.Int("hidden", 256, "hidden and embedding size")
	python := flag.String("python", "/usr/bin/python3", "python with torch for the peer")
	skipTorch := flag.Bool("skip-torch", false, "do not run the PyTorch peer")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the training steps")
	devicePath := flag.Bool("device-path", false, "run on the CPU seen as a device backend and report the bytes each phase moves")
	flag.Parse()

	b, err := engine.Open("cpu", os.Stderr)
	check(err)
	fmt.Printf("machine: %s\n", b.Describe())
	var dev *enginetest.HostlessBackend
	if *devicePath {
		dev = enginetest.Hostless(b)
		b = dev
	}
	// moved reports the traffic of a phase that mark started, per unit.
	mark := func() [2]int64 {
		if dev == nil {
			return [2]int64{}
		}
		return [2]int64{dev.Uploaded, dev.Downloaded}
	}
	moved := func(from [2]int64, n int, unit string) {
		if dev != nil {
			fmt.Printf("  moved: %.3f MB up, %.3f MB down per %s\n",
				float64(dev.Uploaded-from[0])/1e6/float64(n), float64(dev.Downloaded-from[1])/1e6/float64(n), unit)
		}
	}
	dir, err := corpus.SharedDataDir()
	check(err)
	read := func(split, lang string) [][]string {
		s, err := vocab.ReadTokenized(filepath.Join(dir, "multi30k", "tok", split+".lc.norm.tok."+lang))
		check(err)
		return s
	}
	for _, kind := range strings.Split(*models, ",") {
		enTrain, deTrain := read("train", "en"), read("train", "de")
		enVal, deVal := read("val", "en"), read("val", "de")
		tgtV := vocab.Build(enTrain, 2, 0)
		var srcV *vocab.Vocab
		cfg := model.Config{Kind: kind, Embed: *hidden, Hidden: *hidden, Layers: 2, Dropout: 0.3, InitSeed: 1, InitScale: 0.1}
		var ex, val []batch.Example
		if kind == model.NMT {
			srcV, tgtV = tgtV, vocab.Build(deTrain, 2, 0)
			cfg.EncLayers, cfg.BiLayers, cfg.SrcVocab = 2, 1, srcV.Len()
			for i := range enTrain {
				ex = append(ex, batch.Example{Src: srcV.Encode(enTrain[i]), Tgt: tgtV.Encode(deTrain[i])})
			}
			for i := range enVal {
				val = append(val, batch.Example{Src: srcV.Encode(enVal[i]), Tgt: tgtV.Encode(deVal[i])})
			}
		} else {
			for _, s := range enTrain {
				ex = append(ex, batch.Example{Tgt: tgtV.Encode(s)})
			}
			for _, s := range enVal {
				val = append(val, batch.Example{Tgt: tgtV.Encode(s)})
			}
		}
		cfg.TgtVocab = tgtV.Len()
		m, err := model.New(cfg, srcV, tgtV)
		check(err)
		check(m.SetBackend(b))
		fmt.Printf("\n== %s: %d params, vocab %d→%d, H = E = %d, batch %d\n", kind, m.NumParams(), cfg.SrcVocab, cfg.TgtVocab, *hidden, *bsz)

		plan := batch.Plan{Size: *bsz, Bounds: batch.DefaultBounds}
		specs := plan.Epoch(ex, 1, 0, true)
		totalTokens := 0
		for _, e := range ex {
			totalTokens += len(e.Tgt) + 1
		}
		// Warm-up builds the graphs of the timed batches.
		tr, err := train.New(m, train.Data{Train: ex, Val: val}, train.Options{Batch: *bsz, LR: 1e-3, Clip: 5, Epochs: 1, Seed: 1})
		check(err)
		for _, s := range specs[:*steps] {
			_, err := m.Graph(s.Shape, model.Train)
			check(err)
		}
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile + "." + kind)
			check(err)
			check(pprof.StartCPUProfile(f))
		}
		from := mark()
		start, tokens := time.Now(), 0
		for i, s := range specs[:*steps] {
			if i == 1 {
				from = mark() // the first step uploads Adam's new moments
			}
			res, err := tr.Step(batch.Make(ex, s))
			check(err)
			tokens += res.Tokens
		}
		el := time.Since(start)
		if *cpuprofile != "" {
			pprof.StopCPUProfile()
		}
		tps := float64(tokens) / el.Seconds()
		fmt.Printf("train: %d steps in %.1f s: %.0f target tok/s, %.3f s/step → %.1f min per epoch (%d tokens)\n",
			*steps, el.Seconds(), tps, el.Seconds()/float64(*steps), float64(totalTokens)/tps/60, totalTokens)
		moved(from, max(*steps-1, 1), "training step")
		fmt.Printf("arena: %.0f MB\n", float64(m.Env().ArenaBytes())/1e6)

		evalTPS := func() float64 {
			start := time.Now()
			e, err := train.Evaluate(m, val, plan, nil)
			check(err)
			return float64(e.Tokens) / time.Since(start).Seconds()
		}
		evalTPS() // builds the eval graphs
		from = mark()
		plain := evalTPS()
		moved(from, len(plan.Epoch(val, 0, 0, false)), "evaluation batch")
		var masked []int
		for g := 0; g < m.Masks.StoredNeurons(); g += 10 {
			masked = append(masked, g)
		}
		check(m.Masks.Zero(masked))
		withMask := evalTPS()
		m.Masks.Reset()
		fmt.Printf("eval: %.0f tok/s unmasked, %.0f tok/s with 10%% of stored neurons masked (%.1f%% slower)\n",
			plain, withMask, 100*(plain/withMask-1))
		if kind == model.NMT {
			var src [][]int32
			for _, e := range val {
				src = append(src, e.Src)
			}
			for _, beam := range []int{1, 5} {
				from := mark()
				start := time.Now()
				out, err := decode.Translate(m, src, decode.Options{Beam: beam, Alpha: 1, Batch: 64, MaxLenA: 2, MaxLenB: 10})
				check(err)
				n := 0
				for _, o := range out {
					n += len(o) + 1
				}
				fmt.Printf("translate beam %d: %d sentences, %.0f output tok/s\n", beam, len(src), float64(n)/time.Since(start).Seconds())
				moved(from, len(src), "sentence")
			}
		}
		if !*skipTorch {
			peer(*python, kind, cfg, ex, specs[:*steps], totalTokens)
		}
	}
}

// peer runs peer.py with the same architecture on batches of the timed
// shapes and per-row lengths.
func peer(python, kind string, cfg model.Config, ex []batch.Example, specs []batch.Spec, totalTokens int) {
	type shape struct {
		S   int   `json:"S"`
		T   int   `json:"T"`
		Src []int `json:"src"`
		Tgt []int `json:"tgt"`
	}
	var shapes []shape
	for _, s := range specs {
		sh := shape{S: s.Shape.S, T: s.Shape.T}
		for _, r := range s.Rows {
			sl, tl := 0, 0
			if r >= 0 {
				sl, tl = len(ex[r].Src), len(ex[r].Tgt)+1
			}
			sh.Src, sh.Tgt = append(sh.Src, sl), append(sh.Tgt, tl)
		}
		shapes = append(shapes, sh)
	}
	f, err := os.CreateTemp("", "grain-bench-*.json")
	check(err)
	defer os.Remove(f.Name())
	check(json.NewEncoder(f).Encode(shapes))
	check(f.Close())
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "peer.py")
	cmd := exec.Command(python, script, "--model", kind, "--hidden", fmt.Sprint(cfg.Hidden),
		"--src-vocab", fmt.Sprint(max(cfg.SrcVocab, 1)), "--tgt-vocab", fmt.Sprint(cfg.TgtVocab),
		"--batches", f.Name(), "--epoch-tokens", fmt.Sprint(totalTokens))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		fmt.Printf("torch peer failed: %v\n", err)
		return
	}
	fmt.Print(string(out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/nn:", err)
		os.Exit(1)
	}
}
