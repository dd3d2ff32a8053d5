// Package cuda is grain's CUDA backend: engine.Backend on an NVIDIA GPU,
// with matrix products in cuBLAS and grain's own kernels (kernels/*.cu,
// loaded from their committed PTX) for everything else. Importing the
// package registers the "cuda" device with package engine, so that
// engine.Open("auto") uses GPU 0 when one is usable and "cuda:N" selects
// GPU N. The package is compiled only with the build tag grain_cuda (`make
// cuda`; gorgonia's own tag `cuda` would pull in its cuDNN code); without
// it the package is empty and grain runs on the CPU.
//
// # One binary that starts everywhere
//
// The binary links neither libcuda nor libcublas. gorgonia.org/cu (the
// driver API) and grain's cuBLAS calls are linked against trampolines
// (stub/grain_stub.h, generated from NVIDIA's headers by `make cuda`) that
// dlopen libcuda.so.1 and libcublas.so.13, .12 or .11 on first use;
// GRAIN_LIBCUDA and GRAIN_CUBLAS name other files. Without a driver, a GPU
// or cuBLAS, Available reports why, engine.Open("auto") says so in one line
// and uses the CPU, and engine.Open("cuda") returns that reason as an
// error.
//
// # Execution
//
// A Backend owns the device's primary context, one non-blocking stream on
// which every operation is queued in program order, and a cuBLAS handle on
// that stream. Operations return before the device has run them; Sync and
// Download wait. Device failures (a failed launch, an illegal address, an
// index or label out of range that a kernel found) are sticky: the first is
// recorded, later operations are skipped, and Sync, Download and Alloc
// return it. Running out of GPU memory in Alloc is an ordinary error
// wrapping ErrOutOfMemory, after which the backend keeps working. Where the
// CPU backend panics on an out-of-range index (GatherColumns) or label
// (SoftmaxCrossEntropy), the values live on the device: the kernel raises a
// flag instead and the next Sync or Download returns the error.
//
// Besides engine.Backend, a Backend implements engine.PreRounded (a
// standardization that writes GEMM-ready TF32/BF16 values, and a GEMM that
// trusts them), engine.AsyncUploader (page-locked staging buffers copied on
// a second stream, ordered with events, so host data streams in while the
// device computes), GemmBatched (cublasGemmStridedBatchedEx) and engine.NN
// (the fused operations of grain's models, kernels/nn.cu), so the NMT and
// NLM run on the GPU: evaluation, translation, extraction, ablation and
// training (see package fused for how Gorgonia's host values meet device
// memory).
//
// # Precision and tolerances
//
// Gemm runs FP32 as float32 products with CUBLAS_COMPUTE_32F; TF32 and BF16
// first round copies of both inputs (round to nearest even, the arithmetic
// of kernels.RoundTF32 and kernels.RoundBF16), then multiply on tensor
// cores, so the precision in effect does not depend on the kernel cuBLAS
// picks; the conformance suite's GemmPrecisionInEffect test checks it, and
// TestGPUGemmTF32Large does on a product large enough for tensor cores.
// Every mode accumulates in float32. Measured against float64 by the
// conformance suite (package enginetest), which this backend passes
// unchanged:
//
//	FP32 GEMM, elementwise ops, reductions   ≤ 1e-5 relative
//	TF32 correlation values (|r| ≤ 1)         within 3e-3 of float64
//	BF16 correlation values                   within 2e-2 of float64
//
// Sums (SumCols, SumSquares, softmax cross-entropy losses) and column
// moments accumulate in float64 and combine partial results in a fixed
// order, so results are deterministic, though not bitwise equal to the
// CPU's (a different order of addition). Selections (ReduceRows,
// ReduceCols) equal the CPU's exactly, ties and NaN included.
//
// # Testing without a GPU
//
// The tests named TestGPU* need a usable device and skip otherwise;
// TestEmulated runs them in a child process on engine/cuda/emu, grain's CPU
// emulation of the driver and cuBLAS that runs the kernels' CUDA sources as
// C++ (threads as fibers, barriers checked, allocations guarded), so that
// CI runs the conformance suite through this backend's code on every
// machine. bench/gpu/device_run.sh runs the same tests on a real GPU.
package cuda
