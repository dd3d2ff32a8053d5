#!/usr/bin/env bash
# Fetches what building grain's CUDA backend needs into the git-ignored
# folder .cuda/, from Debian bookworm's non-free component (CUDA 11.8),
# without installing anything system-wide:
#
#   .ci/cuda-fetch.sh headers   NVIDIA's headers (nvidia-cuda-dev, 774 MB
#                               .deb; only its usr/include, ≈13 MB, is kept)
#                               into .cuda/include
#   .ci/cuda-fetch.sh toolkit   nvcc (nvidia-cuda-toolkit, 84 MB) into
#                               .cuda/toolkit, with its own nvcc.profile, for
#                               `make kernels`
#
# apt runs with a sources file and package lists of its own under .cuda/apt
# (the machine's apt configuration is neither read nor changed), so root is
# not needed; the packages are verified by apt against Debian's archive key.
# Each part is skipped when already present. NVIDIA's licence forbids
# redistributing these files: never commit .cuda/.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-headers}
dir=$PWD/.cuda
suite=bookworm
key=/usr/share/keyrings/debian-archive-keyring.gpg

have() {
  case $what in
    headers) [ -f "$dir/include/cuda.h" ] && [ -f "$dir/include/cublas_v2.h" ] && [ -f "$dir/include/cuda_runtime.h" ] ;;
    toolkit) [ -x "$dir/toolkit/usr/lib/nvidia-cuda-toolkit/bin/nvcc" ] && [ -f "$dir/toolkit/usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile" ] ;;
    *) echo "usage: $0 headers|toolkit" >&2; exit 2 ;;
  esac
}
have && exit 0

for tool in apt-get dpkg-deb; do
  command -v $tool >/dev/null || { echo "cuda-fetch: $tool is needed (Debian or Ubuntu)" >&2; exit 1; }
done
[ -f "$key" ] || { echo "cuda-fetch: $key missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

# The Debian archive this machine's apt already uses (its main suite's URI,
# from the deb822 .sources files or a one-line sources.list), with the
# non-free component added.
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, a, " "); uri = a[2] }
          if ($i ~ /^Suites:/) { n = split($i, s, " "); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (ok && uri != "") { print uri; exit } }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++; if ($(i+1) == suite) { print $i; exit } }' "$f"
  done
}
uri=$(mirror | head -n 1)
[ -n "$uri" ] || { echo "cuda-fetch: no apt source for Debian $suite found in /etc/apt" >&2; exit 1; }
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"
echo "deb [signed-by=$key] $uri $suite non-free" >"$dir/apt/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$dir/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache"
  -o Dir::State::Status=/dev/null -o APT::Architecture=amd64 -o APT::Architectures=amd64
  -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
start=$(date +%s)
if ! ls "$dir"/apt/lists/*_dists_"${suite}"_InRelease >/dev/null 2>&1; then
  apt-get "${apt_opts[@]}" update >/dev/null
fi
tmp=$(mktemp -d "$dir/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
case $what in
  headers)
    (cd "$tmp" && nice apt-get "${apt_opts[@]}" download nvidia-cuda-dev >/dev/null)
    rm -rf "$dir/include.new"
    go run ./engine/cuda/internal/cudabuild headers -deb "$tmp"/nvidia-cuda-dev_*.deb -out "$dir/include.new"
    rm -rf "$dir/include" && mv "$dir/include.new" "$dir/include"
    ;;
  toolkit)
    (cd "$tmp" && nice apt-get "${apt_opts[@]}" download nvidia-cuda-toolkit >/dev/null)
    rm -rf "$dir/toolkit" && nice dpkg-deb -x "$tmp"/nvidia-cuda-toolkit_*.deb "$dir/toolkit"
    # The package's profile is a link to /etc/nvcc.profile; this one points
    # nvcc at the extracted tree and the extracted headers.
    bin=$dir/toolkit/usr/lib/nvidia-cuda-toolkit/bin
    rm -f "$bin/nvcc.profile"
    cat >"$bin/nvcc.profile" <<'EOF'
NVVMIR_LIBRARY_DIR = $(_HERE_)/../libdevice
PATH += $(_HERE_):
INCLUDES += "-I$(_HERE_)/../../../../../include" $(_SPACE_)
EOF
    ;;
esac
have || { echo "cuda-fetch: $what incomplete after fetching" >&2; exit 1; }
echo "cuda-fetch: $what into .cuda/ in $(( $(date +%s) - start )) s"
