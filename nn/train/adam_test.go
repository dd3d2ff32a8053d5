package train

import (
	"strings"
	"testing"

	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
	"github.com/grainlab/grain/nn/fused"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestAdamOnDevice steps a parameter on the device path (enginetest.Hostless):
// resident, its update reaches the host after SyncHost and equals the CPU
// path's; not resident, Step is an error (the update would be lost).
func TestAdamOnDevice(t *testing.T) {
	param := func() *tensor.Dense {
		return tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{0.5, -1, 2, 0.25, 3, -0.75}))
	}
	grad := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{0.1, 0.2, -0.3, 0.4, -0.5, 0.6}))
	host, err := fused.NewEnv(cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	want := param()
	if err := NewAdam(host, 0.1, 0).Step([]G.ValueGrad{valueGrad{want, grad.Clone().(*tensor.Dense)}}); err != nil {
		t.Fatal(err)
	}
	dev, err := fused.NewEnv(enginetest.Hostless(cpu.New()))
	if err != nil {
		t.Fatal(err)
	}
	p := param()
	err = NewAdam(dev, 0.1, 0).Step([]G.ValueGrad{valueGrad{p, grad.Clone().(*tensor.Dense)}})
	if err == nil || !strings.Contains(err.Error(), "not resident") {
		t.Fatalf("a step of a parameter that is not resident: %v", err)
	}
	dev.Resident(p)
	if err := NewAdam(dev, 0.1, 0).Step([]G.ValueGrad{valueGrad{p, grad.Clone().(*tensor.Dense)}}); err != nil {
		t.Fatal(err)
	}
	if p.Data().([]float32)[0] != 0.5 {
		t.Fatal("the host data changed before SyncHost")
	}
	if err := dev.SyncHost(p); err != nil {
		t.Fatal(err)
	}
	got, w := p.Data().([]float32), want.Data().([]float32)
	for i := range w {
		if got[i] != w[i] || w[i] == param().Data().([]float32)[i] {
			t.Fatalf("device path %v, host path %v", got, w)
		}
	}
}
