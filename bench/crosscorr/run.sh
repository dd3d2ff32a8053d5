#!/bin/sh
# Cross-model correlation benchmark: grain's MaxCorr against NumPy + OpenBLAS
# (Debian python3-numpy) on the same .npy files in the same run, then grain's
# scaling over T and N = M. Prints the tables recorded in bench/RESULTS.md.
#
#   bench/crosscorr/run.sh            headline + scaling (about 10 minutes on 2 cores)
#   bench/crosscorr/run.sh headline   grain vs numpy only
#   bench/crosscorr/run.sh scaling    scaling table only
#
# PYTHON (default /usr/bin/python3) must have numpy. Data goes to $TMPDIR
# (up to ~3 GB at a time) and is removed afterwards. Run on an idle machine
# (uptime load < 1): the figures are throughput.
set -eu
cd "$(dirname "$0")/../.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/crosscorr" ./bench/crosscorr
cp bench/crosscorr/peer.py "$bin/"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(go version | cut -d' ' -f3)"
what=${1:-all}
if [ "$what" = all ] || [ "$what" = headline ]; then
	"$bin/crosscorr" headline -python "${PYTHON:-/usr/bin/python3}"
fi
if [ "$what" = all ] || [ "$what" = scaling ]; then
	"$bin/crosscorr" scaling
fi
