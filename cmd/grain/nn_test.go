package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grainlab/grain/analysis/activations"
	"github.com/grainlab/grain/analysis/ranking"
	"github.com/grainlab/grain/nn/bleu"
	"github.com/grainlab/grain/nn/model"
)

// writeLines writes the first n lines of a Multi30k tok file.
func writeLines(t *testing.T, dir, split, lang string, lo, hi int) string {
	t.Helper()
	p, err := multi30k(split, lang)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")[lo:hi]
	out := filepath.Join(dir, split+"."+lang)
	os.WriteFile(out, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	return out
}

// TestTrainEvalTranslateExtract runs the model commands end to end on a
// few real sentences: train (and resume a finished run), eval with and
// without a mask, translate, extract.
func TestTrainEvalTranslateExtract(t *testing.T) {
	dir := t.TempDir()
	trS, trT := writeLines(t, dir, "train", "en", 0, 60), writeLines(t, dir, "train", "de", 0, 60)
	vaS, vaT := writeLines(t, dir, "val", "en", 0, 20), writeLines(t, dir, "val", "de", 0, 20)
	out := filepath.Join(dir, "nmt")
	args := []string{"train", "nmt", "--quiet", "--out", out, "--train-src", trS, "--train-tgt", trT, "--val-src", vaS, "--val-tgt", vaT,
		"--embed", "12", "--hidden", "16", "--epochs", "2", "--batch", "16", "--min-count", "1", "--checkpoint-every", "2"}
	code, stdout, stderr := run(args...)
	if code != 0 {
		t.Fatalf("train: %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "best validation loss") || !strings.Contains(stderr, "epoch 2:") {
		t.Fatalf("train output:\n%s\n%s", stdout, stderr)
	}
	// A finished run resumes to nothing more to do, with the same result.
	if code, stdout2, stderr := run(args...); code != 0 || !strings.Contains(stderr, "resuming") {
		t.Fatalf("resume: %d\n%s\n%s", code, stdout2, stderr)
	}
	mpath := filepath.Join(out, "model.safetensors")
	code, stdout, stderr = run("eval", "--model", mpath, "--src", vaS, "--ref", vaT, "--beam", "2", "--json")
	if code != 0 {
		t.Fatalf("eval: %d\n%s\n%s", code, stdout, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res["bleu"] == nil || res["loss"] == nil || res["bleu_signature"] != bleu.Signature {
		t.Fatalf("eval JSON %q: %v", stdout, err)
	}
	// Clamp the top half of a ranking of the stored neurons.
	m, err := model.Load(mpath)
	if err != nil {
		t.Fatal(err)
	}
	n := m.Masks.StoredNeurons()
	ord := make([]int, n)
	for i := range ord {
		ord[i] = n - 1 - i
	}
	rk := filepath.Join(dir, "rank.json")
	if err := ranking.WriteFile(rk, &ranking.File{Version: ranking.FormatVersion, Method: "test", NumNeurons: n, Ordering: ord}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run("eval", "--model", mpath, "--src", vaS, "--ref", vaT, "--beam", "1", "--mask-ranking", rk, "--mask-top", "50")
	if code != 0 || !strings.Contains(stdout, "clamped to 0") || !strings.Contains(stdout, "tok:none") || strings.Contains(stderr, "warning") {
		t.Fatalf("masked eval: %d\n%s\n%s", code, stdout, stderr)
	}
	// A ranking recording another model's activations draws a warning.
	other := filepath.Join(dir, "other.json")
	if err := ranking.WriteFile(other, &ranking.File{Version: ranking.FormatVersion, Method: "test", Model: "models/nlm-en.safetensors", NumNeurons: n, Ordering: ord}); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run("eval", "--model", mpath, "--src", vaS, "--ref", vaT, "--beam", "1", "--mask-ranking", other, "--mask-top", "50")
	if code != 0 || !strings.Contains(stderr, "warning: "+other+" ranks the neurons of models/nlm-en.safetensors, not of "+mpath) {
		t.Fatalf("eval with another model's ranking: exit %d, stderr %q", code, stderr)
	}
	// The sweep's rows are the single masked evaluations.
	plotPath := filepath.Join(dir, "sweep.png")
	code, stdout, stderr = run("eval", "--model", mpath, "--src", vaS, "--ref", vaT, "--beam", "1", "--json",
		"--mask-ranking", rk, "--sweep", "25,50", "--plot", plotPath)
	var sw struct {
		Metric   string `json:"metric"`
		Unmasked struct {
			BLEU float64 `json:"bleu"`
			Loss float64 `json:"loss"`
		} `json:"unmasked"`
		Sweep []struct {
			Selection string  `json:"selection"`
			Percent   float64 `json:"percent"`
			Masked    int     `json:"masked_neurons"`
			BLEU      float64 `json:"bleu"`
			Loss      float64 `json:"loss"`
		} `json:"sweep"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &sw) != nil || len(sw.Sweep) != 6 || sw.Metric != "bleu" {
		t.Fatalf("eval --sweep: %d\n%s\n%s", code, stdout, stderr)
	}
	for _, p := range sw.Sweep {
		if p.Masked != int(float64(n)*p.Percent/100+0.5) || p.Loss == sw.Unmasked.Loss {
			t.Errorf("sweep row %+v (unmasked loss %g, %d ranked neurons)", p, sw.Unmasked.Loss, n)
		}
		if p.Selection == "top" && p.Percent == 50 {
			_, single, _ := run("eval", "--model", mpath, "--src", vaS, "--ref", vaT, "--beam", "1", "--json", "--mask-ranking", rk, "--mask-top", "50")
			var one struct {
				BLEU float64 `json:"bleu"`
				Loss float64 `json:"loss"`
			}
			if json.Unmarshal([]byte(single), &one) != nil || one.BLEU != p.BLEU || one.Loss != p.Loss {
				t.Errorf("--mask-top 50 gives %s, the sweep %+v", single, p)
			}
		}
	}
	if png, err := os.ReadFile(plotPath); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("sweep plot: %v", err)
	}
	if code, _, stderr = run("eval", "--model", mpath, "--src", vaS, "--ref", vaT, "--sweep", "10"); code == 0 || !strings.Contains(stderr, "--mask-ranking") {
		t.Fatalf("sweep without ranking: %d %s", code, stderr)
	}
	if code, _, stderr = run("eval", "--model", mpath, "--src", vaS, "--ref", vaT, "--mask-top", "50"); code == 0 || !strings.Contains(stderr, "go together") {
		t.Fatalf("mask without ranking: %d %s", code, stderr)
	}
	hyp := filepath.Join(dir, "hyp.de")
	if code, stdout, stderr = run("translate", "--model", mpath, "--input", vaS, "--output", hyp, "--beam", "3"); code != 0 {
		t.Fatalf("translate: %d\n%s\n%s", code, stdout, stderr)
	}
	if data, _ := os.ReadFile(hyp); strings.Count(string(data), "\n") != 20 {
		t.Fatalf("translate wrote %d lines, want 20", strings.Count(string(data), "\n"))
	}
	// A source longer than the largest training bucket is translated too.
	longSrc := filepath.Join(dir, "long.en")
	os.WriteFile(longSrc, []byte(strings.TrimSpace(strings.Repeat("two young guys . ", 40))+"\nhello .\n"), 0o644)
	if code, stdout, stderr = run("translate", "--model", mpath, "--input", longSrc, "--beam", "2"); code != 0 || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("translate a 160-token sentence: %d\n%s\n%s", code, stdout, stderr)
	}
	// Extract over a NeuroX-format corpus with unknown, upper-case words.
	toks, labs := filepath.Join(dir, "c.tok"), filepath.Join(dir, "c.lab")
	os.WriteFile(toks, []byte("Two Young guys .\nZyzzyva is unknown\n"), 0o644)
	os.WriteFile(labs, []byte("NUM ADJ NOUN PUNCT\nNOUN VERB ADJ\n"), 0o644)
	acts := filepath.Join(dir, "c.gact")
	if code, stdout, stderr = run("extract", "--model", mpath, "--corpus", toks, "--labels", labs, "--out", acts); code != 0 {
		t.Fatalf("extract: %d\n%s\n%s", code, stdout, stderr)
	}
	r, err := activations.Open(acts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumTokens() != 7 || r.NumNeurons() != n || r.Tokens(1)[0] != "Zyzzyva" {
		t.Fatalf("extracted %d tokens × %d neurons, tokens %v", r.NumTokens(), r.NumNeurons(), r.Tokens(1))
	}
}

func TestTrainNLMAndErrors(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeLines(t, dir, "train", "en", 0, 40), writeLines(t, dir, "val", "en", 0, 10)
	// A 133-token line: training leaves it out (and says so); evaluation
	// counts every token of it.
	long := strings.Repeat("a man in a blue shirt . ", 19)[:len("a man in a blue shirt . ")*19-1]
	for _, p := range []string{tr, va} {
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(long + "\n")
		f.Close()
	}
	out := filepath.Join(dir, "nlm")
	code, stdout, stderr := run("train", "nlm", "--quiet", "--out", out, "--train-tgt", tr, "--val-tgt", va,
		"--embed", "8", "--hidden", "8", "--epochs", "1", "--batch", "8", "--precision", "f16")
	if code != 0 {
		t.Fatalf("train nlm: %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "2 sentences left out") {
		t.Errorf("training did not report the long lines it left out:\n%s", stderr)
	}
	code, stdout, stderr = run("eval", "--model", filepath.Join(out, "model.safetensors"), "--text", va, "--json")
	var ev struct {
		Tokens     int     `json:"tokens"`
		Perplexity float64 `json:"perplexity"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &ev) != nil {
		t.Fatalf("eval nlm: %d\n%s\n%s", code, stdout, stderr)
	}
	text, _ := os.ReadFile(va)
	if want := len(strings.Fields(string(text))) + strings.Count(string(text), "\n"); ev.Tokens != want || !(ev.Perplexity > 1) {
		t.Errorf("eval counted %d tokens (perplexity %g), the text has %d with </s>", ev.Tokens, ev.Perplexity, want)
	}
	if code, _, stderr = run("translate", "--model", filepath.Join(out, "model.safetensors"), "--input", va); code == 0 || !strings.Contains(stderr, "needs an NMT") {
		t.Fatalf("translate with an NLM: %d %s", code, stderr)
	}
	if code, _, stderr = run("train", "xyz"); code != 2 {
		t.Fatalf("train xyz: %d %s", code, stderr)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	if code, _, stderr = run("eval", "--model", bad); code != 1 || !strings.Contains(stderr, "bad.safetensors") {
		t.Fatalf("corrupt model: %d %s", code, stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, as os.Stderr is.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestTrainInterruptAndResume interrupts grain train as a first SIGINT
// does (handleInterrupts calls the command's onInterrupt): it checkpoints,
// says where and how to resume, and exits with status 130. Resuming on
// other training data (the same lines reversed, so the same vocabulary) is
// refused, naming the data and a fresh --out; resuming on the same data
// read from a copy at another path finishes the run.
func TestTrainInterruptAndResume(t *testing.T) {
	dir := t.TempDir()
	tr, va := writeLines(t, dir, "train", "en", 0, 40), writeLines(t, dir, "val", "en", 0, 10)
	out := filepath.Join(dir, "nlm")
	args := func(trainFile, epochs string) []string {
		return []string{"train", "nlm", "--quiet", "--device", "cpu", "--out", out, "--train-tgt", trainFile, "--val-tgt", va,
			"--embed", "8", "--hidden", "8", "--batch", "8", "--patience", "0", "--epochs", epochs}
	}

	// So many epochs that only the interrupt ends the run.
	c := &cli{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan int, 1)
	go func() { done <- c.main(args(tr, "100000")) }()
	code, fired := 0, false
wait:
	for {
		if !fired {
			if stop := onInterrupt.Swap(nil); stop != nil {
				(*stop)()
				fired = true
			}
		}
		select {
		case code = <-done:
			break wait
		case <-time.After(time.Millisecond):
		}
	}
	stderr := c.stderr.(*syncBuffer).String()
	if !fired || code != exitInterrupted {
		t.Fatalf("interrupted train (interrupt sent: %v): exit %d, want %d\n%s", fired, code, exitInterrupted, stderr)
	}
	last := regexp.MustCompile(`(?m)^grain train: interrupted at epoch \d+, batch \d+: checkpoint in ` + regexp.QuoteMeta(out) + `; run the same command to resume\n\z`)
	if !strings.Contains(stderr, "checkpointing after this batch") || !last.MatchString(stderr) {
		t.Fatalf("interrupted train's stderr:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "state.safetensors")); err != nil {
		t.Fatalf("no checkpoint after the interrupt: %v", err)
	}

	data, err := os.ReadFile(tr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	reversed := filepath.Join(dir, "reversed.en")
	os.WriteFile(reversed, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	code, stdout, stderr := run(args(reversed, "1")...)
	if code != 1 || !strings.Contains(stderr, "made with other data: the training text differs") ||
		strings.Contains(stderr, "validation text") || !strings.Contains(stderr, "a fresh --out") || strings.Contains(stderr, "resuming") {
		t.Fatalf("resume on reversed training data: exit %d\n%s\n%s", code, stdout, stderr)
	}

	copied := filepath.Join(t.TempDir(), "copy.en")
	os.WriteFile(copied, data, 0o644)
	code, stdout, stderr = run(args(copied, "1")...)
	if code != 0 || !strings.Contains(stderr, "resuming from "+out) || !strings.Contains(stdout, "best validation loss") {
		t.Fatalf("resume on a copy of the training data: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
