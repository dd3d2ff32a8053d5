package kernels

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPTXUpToDate checks that the committed PTX was generated from the
// current CUDA sources: every .cu and .cuh file hashes to what
// ptx_sources.go recorded, every .cu has its .ptx, and every kernel of a
// .cu is an entry of its PTX.
func TestPTXUpToDate(t *testing.T) {
	srcs, _ := filepath.Glob("*.cu")
	hdrs, _ := filepath.Glob("*.cuh")
	files := append(srcs, hdrs...)
	if len(srcs) == 0 {
		t.Fatal("no CUDA sources")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(data)); got != ptxSourceSHA256[f] {
			t.Errorf("%s changed since its PTX was generated: run `make kernels` (needs .cuda/toolkit; see .ci/cuda-fetch.sh)", f)
		}
	}
	if len(files) != len(ptxSourceSHA256) {
		t.Errorf("ptx_sources.go records %d sources, the folder has %d: run `make kernels`", len(ptxSourceSHA256), len(files))
	}
	mods := PTXModules()
	kernel := regexp.MustCompile(`(?m)^GRAIN_KERNEL(?:_BOUNDED\([0-9, ]*\))? (\w+)\(`)
	for _, f := range srcs {
		name := strings.TrimSuffix(f, ".cu")
		ptx, ok := mods[name]
		if !ok {
			t.Errorf("%s has no %s.ptx", f, name)
			continue
		}
		data, _ := os.ReadFile(f)
		for _, m := range kernel.FindAllStringSubmatch(string(data), -1) {
			if !strings.Contains(ptx, ".entry "+m[1]+"(") {
				t.Errorf("%s.ptx lacks the kernel %s of %s", name, m[1], f)
			}
		}
	}
	if len(mods) != len(srcs) {
		t.Errorf("%d PTX modules for %d .cu files", len(mods), len(srcs))
	}
}

// TestPTXRegenerates recompiles the PTX when the pinned nvcc has been
// fetched (.ci/cuda-fetch.sh toolkit), compares it byte for byte, and
// assembles it for sm_90.
func TestPTXRegenerates(t *testing.T) {
	nvcc := "../.cuda/toolkit/usr/lib/nvidia-cuda-toolkit/bin/nvcc"
	if _, err := os.Stat(nvcc); err != nil {
		t.Skip("nvcc not fetched (.ci/cuda-fetch.sh toolkit); the source hashes are checked by TestPTXUpToDate")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	out, err := exec.Command("go", "run", "./internal/ptxgen", "-check", "-dir", ".", "-nvcc", nvcc,
		"-ptxas", "../.cuda/toolkit/usr/bin/ptxas").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}
