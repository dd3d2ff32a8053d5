// Package kernels holds grain's compute kernels: for every operation that
// grain's engine runs, a CPU implementation in Go (used by the CPU backend
// and as the reference the GPU kernels are tested against) and, for the
// CUDA backend, its CUDA C source.
//
// The CPU kernels work on row-major float32 slices and take explicit row
// ranges, so the CPU backend can split work across cores deterministically:
// every element is computed by the same arithmetic whatever the split, and
// partial sums are combined in a fixed order.
package kernels
