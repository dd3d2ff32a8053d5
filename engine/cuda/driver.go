//go:build grain_cuda

package cuda

import (
	"fmt"
	"io"
	"sync"

	"github.com/grainlab/grain/engine"
	"gorgonia.org/cu"
)

func init() { engine.Register("cuda", driver{}) }

type driver struct{}

var (
	availOnce sync.Once
	availOK   bool
	availWhy  string
	numDev    int
)

// Available reports whether a CUDA device can be used: the driver library
// loads, cuInit succeeds, a device exists and cuBLAS loads; if not, why.
// The answer is computed once per process.
func Available() (bool, string) {
	availOnce.Do(func() { availOK, availWhy = probe() })
	return availOK, availWhy
}

func (driver) Available() (bool, string) { return Available() }

func probe() (bool, string) {
	if why := loadError(0); why != "" {
		return false, "no NVIDIA driver: " + why
	}
	switch st := initStatus(); {
	case st < 0:
		return false, "the CUDA driver was never initialised (cuInit not called)"
	case st != 0:
		return false, fmt.Sprintf("the NVIDIA driver (%s) found no usable GPU: cuInit: %s", loadPath(0), driverError(st))
	}
	n, err := cu.NumDevices()
	if err != nil {
		return false, fmt.Sprintf("cuDeviceGetCount: %v", err)
	}
	if n == 0 {
		return false, "the NVIDIA driver reports no CUDA device"
	}
	numDev = n
	if cublasVersion() < 0 {
		return false, "cuBLAS could not be loaded: " + loadError(1) + " (install CUDA's libcublas, or point GRAIN_CUBLAS at it)"
	}
	return true, ""
}

// Open opens CUDA device ordinal.
func (d driver) Open(ordinal int, notice io.Writer) (engine.Backend, error) {
	if ok, why := d.Available(); !ok {
		return nil, fmt.Errorf("cuda: %s", why)
	}
	if ordinal < 0 || ordinal >= numDev {
		return nil, fmt.Errorf("cuda:%d does not exist (this machine has %d CUDA device(s): cuda:0 … cuda:%d)", ordinal, numDev, numDev-1)
	}
	return Open(ordinal)
}
