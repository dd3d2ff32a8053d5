package cpu_test

import (
	"testing"

	"github.com/grainlab/grain/engine"
	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
)

func TestConformance(t *testing.T) { enginetest.Run(t, cpu.New()) }

func TestOpenResolvesCPU(t *testing.T) {
	for _, dev := range []string{"cpu", "auto", ""} {
		b, err := engine.Open(dev, nil)
		if err != nil || b.Name() != "cpu" {
			t.Fatalf("Open(%q) = %v, %v", dev, b, err)
		}
	}
}

func BenchmarkGemm2048FP32(b *testing.B) { enginetest.BenchGemm(b, cpu.New(), 2048, engine.FP32) }
func BenchmarkGemm512FP32(b *testing.B)  { enginetest.BenchGemm(b, cpu.New(), 512, engine.FP32) }
func BenchmarkStandardize(b *testing.B)  { enginetest.BenchStandardize(b, cpu.New(), 4096, 1024) }
