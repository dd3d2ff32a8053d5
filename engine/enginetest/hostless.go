package enginetest

import "github.com/grainlab/grain/engine"

// Hostless returns b (which must implement engine.NN) without its optional
// interfaces other than engine.NN, engine.HostMemory in particular: code
// given it must move data with Upload and Download as on a device backend,
// so the device code paths of packages above the engine run, and can be
// compared with the host paths, on the CPU. It counts the bytes moved
// (Uploaded, Downloaded), which is what the device paths cost on a GPU
// beyond their kernels.
func Hostless(b engine.Backend) *HostlessBackend {
	return &HostlessBackend{Backend: b, NN: b.(engine.NN)}
}

// HostlessBackend is a backend seen without host memory; see Hostless.
type HostlessBackend struct {
	engine.Backend
	engine.NN
	// Uploaded and Downloaded are the bytes moved to and from the backend
	// so far.
	Uploaded, Downloaded int64
}

// Upload counts the bytes of src and uploads it.
func (h *HostlessBackend) Upload(dst *engine.Tensor, src any) {
	h.Uploaded += hostBytes(src)
	h.Backend.Upload(dst, src)
}

// Download counts the bytes of dst and downloads into it.
func (h *HostlessBackend) Download(dst any, src *engine.Tensor) error {
	h.Downloaded += hostBytes(dst)
	return h.Backend.Download(dst, src)
}

// hostBytes is the size of a host slice as Upload and Download accept.
func hostBytes(s any) int64 {
	switch x := s.(type) {
	case []float32:
		return 4 * int64(len(x))
	case []int32:
		return 4 * int64(len(x))
	case []float64:
		return 8 * int64(len(x))
	}
	return 0
}
