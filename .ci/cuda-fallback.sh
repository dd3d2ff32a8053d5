#!/usr/bin/env bash
# Checks that the cuda-enabled grain binary (make cuda) starts and works on
# a machine without an NVIDIA driver: it links no CUDA library, --device
# auto says in one line why it uses the CPU and computes there, and
# --device cuda is a clear error. GRAIN_LIBCUDA points at a missing file so
# that the check means the same on a machine with a GPU.
#
#   .ci/cuda-fallback.sh build/grain-cuda
set -euo pipefail
bin=${1:?usage: $0 path/to/grain-cuda}
fail() { echo "cuda-fallback: $*" >&2; exit 1; }

needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case $needed in *cuda* | *cublas*) fail "$bin links CUDA libraries: $needed" ;; esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GRAIN_LIBCUDA=/nonexistent/libcuda.so.1
"$bin" demo --synthetic --sentences 300 --quiet --device auto >"$tmp/out" 2>"$tmp/err" ||
  fail "demo --device auto failed: $(cat "$tmp/err")"
grep -q 'this build has no CUDA backend' "$tmp/err" &&
  fail "$bin has no CUDA backend: cmd/grain must import github.com/grainlab/grain/engine/cuda"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "want one line of notice, got: $(cat "$tmp/err")"
grep -qE '^grain: no usable GPU \(no NVIDIA driver: .*libcuda\.so\.1.*\); using the CPU$' "$tmp/err" ||
  fail "unexpected notice: $(cat "$tmp/err")"
grep -q '^accuracy ' "$tmp/out" || fail "no probe result on the CPU: $(head -c 500 "$tmp/out")"

if "$bin" demo --synthetic --sentences 300 --quiet --device cuda >"$tmp/out" 2>"$tmp/err"; then
  fail "--device cuda succeeded without a driver"
fi
grep -q 'not available: no NVIDIA driver' "$tmp/err" || fail "unclear --device cuda error: $(cat "$tmp/err")"
echo "cuda-fallback: $bin (needs: $needed) falls back to the CPU with one line of notice"
