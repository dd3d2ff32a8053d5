package cpu_test

import (
	"testing"

	"github.com/grainlab/grain/engine/cpu"
	"github.com/grainlab/grain/engine/enginetest"
)

func TestConformanceNN(t *testing.T) { enginetest.RunNN(t, cpu.New()) }
