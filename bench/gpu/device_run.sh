#!/usr/bin/env bash
# The device run of issue 5 (CUDA backend), for one call of the device tool
# on a lent NVIDIA GPU machine (no Go there): the GPU tests of engine/cuda
# (the engine conformance suite, device errors, out of memory, batched and
# pre-rounded GEMMs, TF32 in effect on a large product, the AsyncUploader,
# CPU/GPU parity of probe training, the crosscorr suite on its
# double-buffered path against the CPU and float64, the no-driver fallback),
# then the benchmarks against PyTorch on the same GPU in the same run:
#
#   maxcorr    MaxCorr, N = M = 4096, T = 10^5 and 10^6, activations in GPU
#              memory, fp32/tf32/bf16: grain (crosscorr's one pass:
#              sampled standardization, moments from the standardizing
#              loads, products, AffineOuter; and its phases alone; then
#              TF32 at the largest T with 4× larger chunks and with
#              crosscorr's 8192-token blocks), then torch;
#              max |Δr| vs float64
#   probe50k   probe time-to-accuracy, 50,000 × 2,048 × 45: torch (NeuroX
#              protocol), grain fast and neurox modes
#   correlate  MaxCorr from host memory, T = 10^5 and 10^6: crosscorr.Correlate
#              on its double-buffered path (AsyncUploader, pre-rounded TF32)
#              and on its uploading path
#   probe200k  probe time-to-accuracy, 200,000 × 9,984 × 45
#   ablation   the ablation inside the model (grain eval --sweep: BLEU of
#              the en→de NMT, perplexity of the NLM, with the top, bottom
#              and random neurons of a position probe's ranking clamped) on
#              the GPU and on this machine's CPU: time and scores
#   train      training the NMT (shipped architecture) and the NLM for
#              TRAIN_EPOCHS epochs on the carried Multi30k files, on the GPU
#              and on this machine's CPU: tokens/s and the losses of each
#              epoch on both (ablation and train come last: the issue's
#              benchmarks come first if the budget runs short)
#
# Prepare here with `make gpu-device` (build/gpu: the gzipped cuda.test,
# gpubench and grain-cuda, and the Multi30k files of the ablation), then
# call the device tool as bench/RESULTS.md says.
#
#   bench/gpu/device_run.sh [SECTION...]   (default: all, in the order above
#                                          after info and tests)
#
# Sizes can be overridden (to check the script on the CPU emulator):
# MC_N (4096), MC_TOKENS (100000,1000000), CORR_TOKENS (100000,1000000),
# PROBE_S ("50000 2048"), PROBE_L ("200000 9984"), PROBE_ARGS (more
# gpubench probe flags, e.g. "-min-steps 1" on the emulator, where fast
# mode's floor of 1,000 steps at its small sizes outlasts the section's
# limit; at the default sizes the floor does not bind), ABL_SWEEP (20),
# ABL_LINES (all: the first N sentences of each Multi30k file, for the
# ablation and train sections), ABL_ARGS (more grain eval flags, e.g.
# "--batch 2" on the emulator), TRAIN_EPOCHS (3), TRAIN_ARGS (more grain
# train flags, overriding the section's, e.g. "--embed 16 --hidden 16").
#
# Output: $OUT/summary.txt (statuses, RESULT lines, timings), $OUT/run.log
# (everything), $OUT/tests.log (the verbose test output), $OUT/json.tar.gz
# (the ablation and train sections' JSON). Each section has
# a time limit and the whole run a budget (BUDGET seconds, default 540); a
# failing or timed-out section is recorded and the next one runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/grain-device-out}
BUDGET=${BUDGET:-540}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
summary=$OUT/summary.txt
log=$OUT/run.log
: >"$summary"
: >"$log"
: >"$OUT/tests.log"
t_start=$(date +%s)
bin=$(realpath -m "${BIN:-/tmp/grain-gpu-bin}") # absolute: the tests run in engine/cuda
data=build/gpu/data
rm -rf "$bin" && mkdir -p "$bin"
for f in build/gpu/*.gz; do
  gunzip -c "$f" >"$bin/$(basename "$f" .gz)"
  chmod +x "$bin/$(basename "$f" .gz)"
done
ABL_SWEEP=${ABL_SWEEP:-20}
if [[ -n ${ABL_LINES:-} ]]; then
  mkdir -p "$bin/data"
  for f in "$data"/*; do head -n "$ABL_LINES" "$f" >"$bin/data/$(basename "$f")"; done
  data=$bin/data
fi
MC_N=${MC_N:-4096}
MC_TOKENS=${MC_TOKENS:-100000,1000000}
CORR_TOKENS=${CORR_TOKENS:-100000,1000000}
read -r PS_ROWS PS_N <<<"${PROBE_S:-50000 2048}"
read -r PL_ROWS PL_N <<<"${PROBE_L:-200000 9984}"

say() { echo "[$(date -u +%H:%M:%S) +$(($(date +%s) - t_start))s] $*" | tee -a "$summary" "$log"; }

# run NAME LIMIT FILE CMD...: runs CMD with its output appended to FILE,
# within LIMIT seconds and what is left of the budget, and records the
# outcome. (gpubench kills its torch child if it is killed itself.)
run() {
  local name=$1 limit=$2 file=$3
  shift 3
  local left=$((BUDGET - ($(date +%s) - t_start)))
  if ((left < 30)); then
    say "SKIP $name: budget spent"
    return 0
  fi
  ((limit > left)) && limit=$left
  say "START $name (limit ${limit}s): $*"
  local t0 rc=0 st=OK
  t0=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" >>"$file" 2>&1 || rc=$?
  ((rc == 124 || rc == 137)) && st=TIMEOUT
  ((rc != 0 && rc != 124 && rc != 137)) && st="FAIL (exit $rc)"
  local ms=$((($(date +%s%N) - t0) / 1000000))
  say "$st $name after $((ms / 1000)).$(printf %03d $((ms % 1000)))s"
}

# ablation KIND DEVICE ARGS...: grain eval --sweep --json on DEVICE, the
# JSON into $OUT/ablation-KIND-DEVICE.json.
ablation() {
  local kind=$1 dev=$2
  shift 2
  run "ablation-$kind-$dev" 120 "$log" bash -c 'out=$1; shift; exec "$@" >"$out"' _ "$OUT/ablation-$kind-$dev.json" \
    "$bin/grain-cuda" eval --device "$dev" --quiet --json --sweep "$ABL_SWEEP" ${ABL_ARGS:-} "$@"
}

# training KIND DEVICE ARGS...: grain train --json for TRAIN_EPOCHS epochs
# on DEVICE, the JSON into $OUT/train-KIND-DEVICE.json (the checkpoints,
# ≈ 100 MB a run, go to /tmp, not to $OUT, which comes back).
training() {
  local kind=$1 dev=$2
  shift 2
  rm -rf "/tmp/grain-train-$kind-$dev"
  run "train-$kind-$dev" 120 "$log" bash -c 'out=$1; shift; exec "$@" >"$out"' _ "$OUT/train-$kind-$dev.json" \
    "$bin/grain-cuda" train "$kind" --device "$dev" --quiet --json --epochs "${TRAIN_EPOCHS:-3}" --patience 0 \
    --checkpoint-every 0 --min-count 1 --out "/tmp/grain-train-$kind-$dev" "$@" ${TRAIN_ARGS:-}
}

sections=("$@")
((${#sections[@]})) || sections=(maxcorr probe50k correlate probe200k ablation train)
say "grain device run: sections info tests ${sections[*]}; budget ${BUDGET}s"
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv || true
  uname -r
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' || true
  ls -la "$bin"
  ldd "$bin/gpubench" || true
} >>"$log" 2>&1
run info 60 "$log" "$bin/gpubench" info
run tests 150 "$OUT/tests.log" env -C engine/cuda "$bin/cuda.test" -test.v -test.count=1 -test.run '^TestGPU|^TestNoDriver$'
grep -E '^(--- |ok|PASS|FAIL)' "$OUT/tests.log" >>"$summary" || true
for s in "${sections[@]}"; do
  case $s in
    maxcorr)
      run maxcorr-grain 90 "$log" "$bin/gpubench" maxcorr -n "$MC_N" -m "$MC_N" -tokens "$MC_TOKENS" -prec fp32,tf32,bf16 -reps 3
      # the chunk of tokens per product (default 32768), 4× larger, and
      # crosscorr's largest block (MaxBlockRows, 8192) for its
      # host-streamed path
      run maxcorr-grain-chunk 60 "$log" "$bin/gpubench" maxcorr -n "$MC_N" -m "$MC_N" -tokens "${MC_TOKENS##*,}" -prec tf32 -reps 3 -chunk 131072
      run maxcorr-grain-chunk8k 60 "$log" "$bin/gpubench" maxcorr -n "$MC_N" -m "$MC_N" -tokens "${MC_TOKENS##*,}" -prec tf32 -reps 3 -chunk 8192
      run maxcorr-torch 90 "$log" "$PYTHON" bench/gpu/maxcorr_peer.py "$MC_N" "$MC_N" "$MC_TOKENS" fp32,tf32,bf16 3
      ;;
    probe50k) run probe50k 120 "$log" "$bin/gpubench" probe -rows "$PS_ROWS" -neurons "$PS_N" -labels 45 -python "$PYTHON" ${PROBE_ARGS:-} ;;
    correlate) run correlate 120 "$log" "$bin/gpubench" correlate -n "$MC_N" -m "$MC_N" -tokens "$CORR_TOKENS" -prec tf32 ;;
    ablation)
      for dev in cuda cpu; do
        ablation nmt "$dev" --model nn/models/nmt-en-de-s1.safetensors --beam 1 \
          --src "$data/test_2016_flickr.lc.norm.tok.en" --ref "$data/test_2016_flickr.lc.norm.tok.de" \
          --mask-ranking bench/gpu/ablation/nmt-en-de-s1.position-bucket.json
        ablation nlm "$dev" --model nn/models/nlm-en.safetensors --text "$data/val.lc.norm.tok.en" \
          --mask-ranking bench/gpu/ablation/nlm-en.position-bucket.json
      done
      "$PYTHON" bench/gpu/ablation_compare.py "$OUT" >>"$log" 2>&1 || say "ablation_compare failed"
      ;;
    train)
      for dev in cuda cpu; do
        training nmt "$dev" --src en --tgt de --embed 128 --hidden 256 --lr 2e-3 \
          --train-src "$data/test_2016_flickr.lc.norm.tok.en" --train-tgt "$data/test_2016_flickr.lc.norm.tok.de" \
          --val-src "$data/test_2016_flickr.lc.norm.tok.en" --val-tgt "$data/test_2016_flickr.lc.norm.tok.de"
        training nlm "$dev" --tgt en --train-tgt "$data/val.lc.norm.tok.en" --val-tgt "$data/val.lc.norm.tok.en"
      done
      "$PYTHON" bench/gpu/train_compare.py "$OUT" >>"$log" 2>&1 || say "train_compare failed"
      ;;
    probe200k) run probe200k 240 "$log" "$bin/gpubench" probe -rows "$PL_ROWS" -neurons "$PL_N" -labels 45 -python "$PYTHON" ${PROBE_ARGS:-} ;;
    *) say "unknown section $s" ;;
  esac
done
grep -hE '^RESULT|^device:|reaches torch' "$log" >>"$summary" || true
# MaxCorr speed-ups, torch's time over grain's (its first, default-chunk run) for each T and precision
# (the issue's target: ≥ 1.6× at T = 10^6 in TF32).
awk '/^RESULT maxcorr /{
    split($4, t, "="); split($5, p, "="); split($6, ms, "="); k = t[2] " " p[2]
    if ($3 == "grain" && !(k in g)) g[k] = ms[2]; else if ($3 ~ /^torch/) c[k] = ms[2]
  }
  END { for (k in g) if (k in c) { split(k, a, " "); printf "SPEEDUP maxcorr T=%s prec=%s grain=%.2fms torch=%.2fms torch/grain=%.2fx\n", a[1], a[2], g[k], c[k], c[k] / g[k] } }' \
  "$log" | sort >>"$summary" || true
# At most 8 files come back from a device call: the JSON outputs travel as
# one archive.
shopt -s nullglob
json=("$OUT"/ablation-*.json "$OUT"/train-*.json)
if ((${#json[@]})); then
  tar -czf "$OUT/json.tar.gz" -C "$OUT" "${json[@]##*/}" && rm -f "${json[@]}"
fi
say "done"
