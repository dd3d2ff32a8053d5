#!/usr/bin/env bash
# Installs grain's optional system library: OpenBLAS (Debian
# libopenblas0-pthread), loaded by grain at run time for fast GEMM. Without
# root or apt it only prints how to get it: grain then runs on pure-Go BLAS.
set -u
if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing OpenBLAS (libopenblas0-pthread) for grain's fast CPU path"
  if ! apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libopenblas0-pthread >/dev/null 2>&1 \
      || echo "could not install libopenblas0-pthread; grain will use pure-Go BLAS"
  fi
else
  echo "note: OpenBLAS not found; grain will use pure-Go BLAS (apt-get install libopenblas0-pthread for the fast path)"
fi
exit 0
