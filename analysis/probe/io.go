package probe

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/grainlab/grain/engine/safetensors"
)

// Save writes p as a safetensors file: float32 "weight" [labels × neurons],
// float32 "bias" [labels]; the metadata holds "labels" (a JSON array of the
// label names, in row order) and p.Meta. The file is written atomically.
func Save(path string, p *Probe) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	labels, err := json.Marshal(p.Labels)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "grain-probe", "labels": string(labels)}
	for k, v := range p.Meta {
		if k != "labels" && k != "format" {
			meta[k] = v
		}
	}
	k := len(p.Labels)
	f := &safetensors.File{
		Tensors: []safetensors.Tensor{
			safetensors.NewF32("weight", []int{k, p.Neurons}, p.Weight),
			safetensors.NewF32("bias", []int{k}, p.Bias),
		},
		Metadata: meta,
	}
	return safetensors.WriteFile(path, f)
}

// Load reads a probe saved by Save, or any safetensors file with a
// [labels × neurons] "weight" (or "linear.weight", as a NeuroX/PyTorch
// LinearProbe state dict has) and optionally a [labels] "bias" (or
// "linear.bias"; zeros when absent). Weights may be F32, F16, BF16 or F64.
// The "labels" metadata (a JSON array of distinct names, one per row) is
// required in grain's own probes (metadata "format": "grain-probe"), as
// Save always writes it; another tool's file (a PyTorch nn.Linear or NeuroX
// LinearProbe state dict) may omit it, and its labels are then named "0",
// "1", ... Every error names the file; the probe must pass Check (finite
// weights and bias, distinct labels).
func Load(path string) (*Probe, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	wt := f.Tensor("weight")
	if wt == nil {
		wt = f.Tensor("linear.weight")
	}
	if wt == nil {
		return nil, fmt.Errorf("%s: no \"weight\" or \"linear.weight\" tensor (have %s)", path, names(f))
	}
	if len(wt.Shape) != 2 {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, want [labels, neurons]", path, wt.Name, wt.Shape)
	}
	k, n := wt.Shape[0], wt.Shape[1]
	w, err := wt.Float32()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &Probe{Neurons: n, Weight: w, Bias: make([]float32, k), Meta: map[string]string{}}
	bt := f.Tensor("bias")
	if bt == nil {
		bt = f.Tensor("linear.bias")
	}
	if bt != nil {
		if len(bt.Shape) != 1 || bt.Shape[0] != k {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, want [%d]", path, bt.Name, bt.Shape, k)
		}
		if p.Bias, err = bt.Float32(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if s, ok := f.Metadata["labels"]; ok {
		if err := json.Unmarshal([]byte(s), &p.Labels); err != nil {
			return nil, fmt.Errorf("%s: metadata \"labels\" is not a JSON array of strings: %v", path, err)
		}
		if len(p.Labels) != k {
			return nil, fmt.Errorf("%s: metadata names %d labels but %q has %d rows", path, len(p.Labels), wt.Name, k)
		}
	} else if f.Metadata["format"] != "grain-probe" {
		for l := 0; l < k; l++ {
			p.Labels = append(p.Labels, strconv.Itoa(l))
		}
	} else {
		return nil, fmt.Errorf(`%s: a grain probe without "labels" metadata (Save always writes it: the file was altered)`, path)
	}
	for key, v := range f.Metadata {
		if key != "labels" && key != "format" {
			p.Meta[key] = v
		}
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func names(f *safetensors.File) string {
	var s []string
	for _, t := range f.Tensors {
		s = append(s, strconv.Quote(t.Name))
	}
	if len(s) == 0 {
		return "no tensors"
	}
	return fmt.Sprint(s)
}
