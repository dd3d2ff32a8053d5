// Package neuroxpeer is the Go side of bench/probe/peer.py, the NeuroX
// probe protocol in PyTorch that bench/probe (CPU) and gpubench probe
// (GPU) run as their peer: it writes the data files the script reads and
// parses the result line it prints.
package neuroxpeer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// Write writes the peer's input into dir: train.x and test.x (float32,
// row-major), train.y and test.y (int32 labels), as raw little-endian
// values (the machine's own order on x86-64).
func Write(dir string, trainX []float32, trainY []int32, testX []float32, testY []int32) error {
	for _, f := range []struct {
		name string
		p    unsafe.Pointer
		n    int
	}{
		{"train.x", unsafe.Pointer(unsafe.SliceData(trainX)), len(trainX)},
		{"train.y", unsafe.Pointer(unsafe.SliceData(trainY)), len(trainY)},
		{"test.x", unsafe.Pointer(unsafe.SliceData(testX)), len(testX)},
		{"test.y", unsafe.Pointer(unsafe.SliceData(testY)), len(testY)},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), unsafe.Slice((*byte)(f.p), 4*f.n), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Result reads the peer's output for its last line "RESULT probe
// torch-neurox rows=R neurons=N s=SECONDS acc=ACCURACY" and returns the
// seconds and the held-out accuracy.
func Result(out string) (secs, acc float64, err error) {
	found := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if !strings.HasPrefix(line, "RESULT probe torch-neurox") || len(f) < 2 {
			continue
		}
		if _, err := fmt.Sscanf(f[len(f)-2], "s=%f", &secs); err != nil {
			return 0, 0, fmt.Errorf("peer result %q: %v", line, err)
		}
		if _, err := fmt.Sscanf(f[len(f)-1], "acc=%f", &acc); err != nil {
			return 0, 0, fmt.Errorf("peer result %q: %v", line, err)
		}
		found = true
	}
	if !found {
		return 0, 0, fmt.Errorf("the peer printed no RESULT line")
	}
	return secs, acc, nil
}
