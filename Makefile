# grain — two commands on a fresh machine (Debian, Go 1.26):
#   make demo   runs grain's main job on its embedded default
#   make test   runs the whole test suite
# Both install what they need first (Go modules; OpenBLAS from Debian when
# absent and when run as root — without it grain falls back to pure-Go BLAS).
#   make cuda   builds build/grain-cuda, grain with its CUDA backend (it runs
#               everywhere: without an NVIDIA GPU it says so and uses the CPU)
#   make kernels  regenerates the committed PTX of kernels/*.cu

GO      ?= go
BIN     := build/grain
FUZZTIME ?= 20s

.PHONY: all deps build demo test vet fuzz bench clean cuda cuda-test kernels gpu-device

all: build

deps:
	@./.ci/deps.sh
	@$(GO) mod download

build: deps
	$(GO) build -o $(BIN) ./cmd/grain

demo: build
	./$(BIN) demo

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# The suite runs once with OpenBLAS and once on the pure-Go fallback path
# (GRAIN_OPENBLAS=off) for the engine, and once without cgo (Go kernels);
# then the CUDA build's tests (cuda-test).
test: deps vet
	$(GO) test -count=1 ./...
	GRAIN_OPENBLAS=off $(GO) test -count=1 ./engine/... ./analysis/probe/
	CGO_ENABLED=0 $(GO) test -count=1 ./kernels/ ./engine/cpu/ ./analysis/probe/
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/grain
	$(MAKE) --no-print-directory cuda-test

# Short runs of every fuzz target (FUZZTIME each).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./engine/cpu/
	$(GO) run ./bench/probe

clean:
	rm -rf build

# ---- CUDA ---------------------------------------------------------------
# NVIDIA's headers (and, for `make kernels`, nvcc) are fetched from Debian
# into the git-ignored .cuda/ by .ci/cuda-fetch.sh. The CUDA driver and
# cuBLAS are not linked: .cuda/lib/libcuda.a holds trampolines that load
# them at run time (engine/cuda/stub), so the binaries need only libc.
# .cuda/lib/libgrainemu.so is grain's CPU emulation of the driver, cuBLAS
# and its kernels (engine/cuda/emu), on which the CUDA tests run without a
# GPU.
CUDA      := .cuda
CUDA_INC  := $(CUDA)/include
CUDA_LIB  := $(CUDA)/lib
CUDA_ENV  := CGO_CFLAGS="-O2 -g -I$(CURDIR)/$(CUDA_INC)" CGO_LDFLAGS="-L$(CURDIR)/$(CUDA_LIB)"
CUBLAS_FUNCS := cublasCreate_v2,cublasDestroy_v2,cublasSetStream_v2,cublasSetMathMode,cublasGetProperty,cublasGemmEx,cublasGemmStridedBatchedEx
KERNEL_SRC := $(wildcard kernels/*.cu) kernels/grain.cuh

$(CUDA_INC)/cuda.h:
	./.ci/cuda-fetch.sh headers

$(CUDA_LIB)/libcuda.a: $(CUDA_INC)/cuda.h engine/cuda/stub/loader.c engine/cuda/stub/grain_stub.h engine/cuda/internal/cudabuild/main.go
	@mkdir -p $(CUDA)/gen $(CUDA_LIB)
	echo '#include <cuda.h>' | $(CC) -E -P -I$(CUDA_INC) - \
	  | $(GO) run ./engine/cuda/internal/cudabuild stubs -lib cuda -ret CUresult -skip cuInit >$(CUDA)/gen/stubs.inc
	echo '#include <cublas_v2.h>' | $(CC) -E -P -I$(CUDA_INC) - \
	  | $(GO) run ./engine/cuda/internal/cudabuild stubs -lib cublas -ret cublasStatus_t -only $(CUBLAS_FUNCS) >>$(CUDA)/gen/stubs.inc
	printf '#include "grain_stub.h"\n#include "stubs.inc"\n' >$(CUDA)/gen/stubs.c
	$(CC) -O2 -fPIC -Wall -Wno-deprecated-declarations -I$(CUDA_INC) -Iengine/cuda/stub -I$(CUDA)/gen \
	  -c $(CUDA)/gen/stubs.c -o $(CUDA)/gen/stubs.o
	$(CC) -O2 -fPIC -Wall -I$(CUDA_INC) -Iengine/cuda/stub -c engine/cuda/stub/loader.c -o $(CUDA)/gen/loader.o
	rm -f $@ && ar rcs $@ $(CUDA)/gen/stubs.o $(CUDA)/gen/loader.o

$(CUDA_LIB)/libgrainemu.so: $(CUDA_INC)/cuda.h engine/cuda/emu/emu.cpp engine/cuda/emu/emu.h $(KERNEL_SRC)
	@mkdir -p $(CUDA)/gen $(CUDA_LIB)
	sed -n 's/^GRAIN_KERNEL\(_BOUNDED([0-9, ]*)\)\{0,1\} \([a-z0-9_]*\)(.*/K(\2)/p' $(wildcard kernels/*.cu) >$(CUDA)/gen/kernels.inc
	$(CXX) -std=c++17 -O1 -fPIC -shared -Wall -I$(CUDA_INC) -I$(CUDA)/gen engine/cuda/emu/emu.cpp -o $@

cuda: deps $(CUDA_LIB)/libcuda.a $(CUDA_LIB)/libgrainemu.so
	$(CUDA_ENV) $(GO) build -tags grain_cuda -o build/grain-cuda ./cmd/grain

# The CUDA build's tests on a machine without a GPU: the backend's tests on
# the emulator, the fallback of a binary that finds no driver, and vet.
cuda-test: cuda
	$(CUDA_ENV) $(GO) vet -tags grain_cuda ./engine/cuda/... ./bench/gpu/
	$(CUDA_ENV) $(GO) test -tags grain_cuda -count=1 ./engine/cuda/... ./kernels/
	./.ci/cuda-fallback.sh build/grain-cuda

# What bench/gpu/device_run.sh runs on a lent GPU machine (no Go there, and
# ../shared does not travel): the engine/cuda test binary, gpubench and
# grain-cuda, stripped and gzipped (the tracked tree already holds ≈ 39 MB
# of the 64 MiB a call carries), and the Multi30k files of the ablation
# section (the call carries build/gpu; see bench/RESULTS.md).
GPU_DATA := $(addprefix ../shared/data/multi30k/tok/,test_2016_flickr.lc.norm.tok.en test_2016_flickr.lc.norm.tok.de val.lc.norm.tok.en)
gpu-device: $(CUDA_LIB)/libcuda.a
	@rm -rf build/gpu && mkdir -p build/gpu/data build/gpu-raw
	$(CUDA_ENV) $(GO) test -c -tags grain_cuda -ldflags '-s -w' -o build/gpu-raw/cuda.test ./engine/cuda
	$(CUDA_ENV) $(GO) build -tags grain_cuda -ldflags '-s -w' -o build/gpu-raw/gpubench ./bench/gpu
	$(CUDA_ENV) $(GO) build -tags grain_cuda -ldflags '-s -w' -o build/gpu-raw/grain-cuda ./cmd/grain
	for f in cuda.test gpubench grain-cuda; do gzip -9 -c build/gpu-raw/$$f >build/gpu/$$f.gz; done
	cp $(GPU_DATA) build/gpu/data/
	@du -sh build/gpu

# Regenerates kernels/*.ptx and kernels/ptx_sources.go with Debian's nvcc
# 11.8 (see kernels/internal/ptxgen).
kernels: $(CUDA_INC)/cuda.h
	./.ci/cuda-fetch.sh toolkit
	$(GO) run ./kernels/internal/ptxgen
