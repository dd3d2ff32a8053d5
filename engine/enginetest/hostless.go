package enginetest

import "github.com/grainlab/grain/engine"

// Hostless returns b (which must implement engine.NN) without its optional
// interfaces other than engine.NN, engine.HostMemory in particular: code
// given it must move data with Upload and Download as on a device backend,
// so the device code paths of packages above the engine run, and can be
// compared with the host paths, on the CPU.
func Hostless(b engine.Backend) engine.Backend {
	return hostless{b, b.(engine.NN)}
}

type hostless struct {
	engine.Backend
	engine.NN
}
