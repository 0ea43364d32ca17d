#!/usr/bin/env bash
# bench/gpu_check.sh: the one check to run on a lent GPU machine (H100/H200).
#
# It uses the build folder carried from the development machine (it builds
# nothing), and in one run of a few minutes:
#   1. correctness: every model of models/ (its bundled data), of
#      shared/models/onnx-light (N=1, random data) and shared/models/bench
#      (one batch, random data) is compiled with the carried dlc, in float32
#      and, when dlc has --precision, in fp16 and bf16 (all but onnx-light,
#      whose many kernels take NVRTC seconds each); each plan runs on
#      the GPU (dlrun --device cuda) and on the CPU (--device cpu) over the
#      same data, and the outputs must agree: max|gpu - cpu| / max|cpu| at
#      most 1e-4 (float32), 1e-2 (fp16) or 4e-2 (bf16, 8 times fp16's
#      rounding unit);
#   2. speed and memory: the three bench graphs, float32 and fp16, are timed
#      by dlrun (median batch on the GPU) against PyTorch eager and
#      torch.compile on the same graph and weights (bench/torch_peer.py, TF32
#      off on both sides; a float16 module against the fp16 plan), with
#      dlc's slab (workspace included) beside PyTorch's peak activation
#      memory; then every generated memory-bound kernel's bandwidth (dlrun
#      --profile) against the card's copy bandwidth (PyTorch, same run);
#      the tables are appended to bench/RESULTS.md and, when $OUT is
#      set, copied to $OUT/gpu_check.md so that it comes back.
#
# usage: bench/gpu_check.sh --prepare [BUILD_DIR]   on the development machine
#        bench/gpu_check.sh [BUILD_DIR]             on the GPU machine
# (BUILD_DIR: default $DLC_BUILD, else build/). --prepare puts into
# BUILD_DIR/gpu_check/ what the GPU machine lacks and the build folder must
# carry: libyaml (dlc links it; the GPU image has none) and a copy of
# shared/models (../shared does not travel). Then carry BUILD_DIR alone.
# The shared models come from $DLC_SHARED, BUILD_DIR/gpu_check/shared,
# ../shared or ./shared (the first that has models/). $DLC_GPU_CHECK_MODELS (a grep -E pattern) limits the
# models checked. Dry run without a GPU, on tests/fakecuda's driver:
# DLC_GPU_CHECK_FAKE=1 DLC_LIBCUDA=.../libcuda.so.1 DLC_LIBCUBLASLT=...
# (the generated CUDA C of each plan is then built for the host as its
# kernels) with DLC_RESULTS naming a scratch file to append to, and
# DLC_COPY_GBS standing in for the copy bandwidth PyTorch cannot measure there.
# Exit status: 0 when every check passed, 1 otherwise, 2 when something it
# needs is missing.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREPARE=""
if [ "${1:-}" = --prepare ]; then PREPARE=1; shift; fi
BUILD=$(cd "${1:-${DLC_BUILD:-$ROOT/build}}" 2>/dev/null && pwd) || { echo "gpu_check: no build folder ${1:-${DLC_BUILD:-$ROOT/build}}" >&2; exit 2; }
DLC=$BUILD/dlc
DLRUN=$BUILD/dlrun
PEER=$ROOT/bench/torch_peer.py
SHARED=""
for s in "${DLC_SHARED:-}" "$BUILD/gpu_check/shared" "$ROOT/../shared" "$ROOT/shared"; do
  if [ -n "$s" ] && [ -d "$s/models" ]; then SHARED=$(cd "$s" && pwd); break; fi
done

if [ -n "$PREPARE" ]; then
  mkdir -p "$BUILD/gpu_check/lib" "$BUILD/gpu_check/shared"
  for lib in $(ldd "$DLC" | awk '/libyaml/ {print $3}'); do cp -L "$lib" "$BUILD/gpu_check/lib/"; done
  if [ -n "$SHARED" ] && [ "$SHARED" != "$BUILD/gpu_check/shared" ]; then
    rm -rf "$BUILD/gpu_check/shared/models"
    cp -r "$SHARED/models" "$BUILD/gpu_check/shared/models"
  fi
  echo "gpu_check: prepared $BUILD/gpu_check ($(du -sh "$BUILD/gpu_check" | cut -f1)); the build folder is $(du -sh "$BUILD" | cut -f1)"
  exit 0
fi
export LD_LIBRARY_PATH="$BUILD/gpu_check/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
T0=$(date +%s)
say() { printf '[gpu_check %4ds] %s\n' $(( $(date +%s) - T0 )) "$*"; }

for f in "$DLC" "$DLRUN"; do [ -x "$f" ] || { echo "gpu_check: $f is missing: carry the build folder" >&2; exit 2; }; done
command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi: is this a GPU machine?" >&2; exit 2; }
python3 -c 'import numpy, yaml, torch' 2>/dev/null || { echo "gpu_check: python3 needs numpy, yaml and torch" >&2; exit 2; }
[ -n "$SHARED" ] || echo "gpu_check: no shared/ models found (set DLC_SHARED): checking models/ only" >&2

CARD=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dlc-gpu-check-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PRECISIONS=fp32
if "$DLC" --help 2>&1 | grep -q -- '--precision'; then PRECISIONS="fp32 fp16 bf16"; fi
say "card: $CARD; build: $BUILD; precisions: $PRECISIONS"

PASS=0
FAILED=()
RUN_ROWS=() # every model that passed: its batch time on the GPU
fail() { FAILED+=("$1"); say "FAIL $1"; }

# json FILE EXPR: a value from dlrun's --json summary
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# check "PRECISIONS" NAME YAML DATA [dlc options...]: compile in each
# precision, run on the GPU and the CPU, compare. The plans stay in $WORK.
check() {
  local precs=$1 name=$2 yaml=$3 data=$4
  shift 4
  local prec plan tol opt
  for prec in $precs; do
    plan=$WORK/$name.$prec.plan
    opt=()
    # bf16 keeps 8 bits of mantissa to fp16's 11: the same few roundings
    # apart (the CPU rounds every fused intermediate, a generated kernel
    # keeps them in float32) are 8 times larger
    case $prec in fp32) tol=1e-4 ;; fp16) tol=1e-2 ;; *) tol=4e-2 ;; esac
    [ "$prec" = fp32 ] || opt=(--precision "$prec")
    [ -n "${DLC_GPU_CHECK_FAKE:-}" ] && opt+=(--emit-cuda "$WORK")
    if ! timeout 300 "$DLC" "$yaml" -o "$plan" "$@" "${opt[@]}" >"$WORK/log" 2>&1; then
      fail "$name $prec: dlc: $(tail -1 "$WORK/log")"; continue
    fi
    if [ -n "${DLC_GPU_CHECK_FAKE:-}" ]; then
      sh "$ROOT/tests/fakecuda/build_kernels.sh" "$WORK"/*.cu "$WORK/kernels.so" && rm -f "$WORK"/*.cu
      export DLC_FAKE_CUDA_KERNELS=$WORK/kernels.so
    fi
    if ! timeout 300 "$DLRUN" "$plan" --data "$data" --out "$WORK/$name.$prec.gpu" --device cuda --json \
        >"$WORK/$name.$prec.json" 2>"$WORK/log"; then
      fail "$name $prec: dlrun on the GPU: $(tail -1 "$WORK/log")"; continue
    fi
    if ! timeout 600 "$DLRUN" "$plan" --data "$data" --out "$WORK/$name.$prec.cpu" --device cpu --quiet 2>"$WORK/log"; then
      fail "$name $prec: dlrun on the CPU: $(tail -1 "$WORK/log")"; continue
    fi
    if python3 "$PEER" compare "$WORK/$name.$prec.gpu" "$WORK/$name.$prec.cpu" --tol "$tol" >"$WORK/cmp" 2>&1; then
      PASS=$((PASS + 1))
      say "ok   $name $prec: $(json "$WORK/$name.$prec.json" '"%s; start-up %.0f ms; batch p50 %.3f ms" % (d["card"]["code"], d["startup_ms"]["total"], d["latency_ms"]["p50"])')"
      RUN_ROWS+=("| $name | $prec | $(json "$WORK/$name.$prec.json" '"%d | %.3f | %.1f | %.0f" % (d["batch_size"], d["latency_ms"]["p50"], d["slab_bytes"] / 1048576, d["startup_ms"]["total"])') |")
    else
      fail "$name $prec: GPU and CPU outputs differ"
      sed 's/^/       /' "$WORK/cmp"
    fi
    rm -rf "$WORK/$name.$prec.gpu" "$WORK/$name.$prec.cpu"
  done
}

say "1/2 correctness: GPU against CPU"
picked() { [ -z "${DLC_GPU_CHECK_MODELS:-}" ] || echo "$1" | grep -Eq "$DLC_GPU_CHECK_MODELS"; }
for yaml in "$ROOT"/models/*/*.yaml; do
  dir=$(dirname "$yaml")
  picked "$yaml" && [ -d "$dir/data" ] && check "$PRECISIONS" "$(basename "$dir")" "$yaml" "$dir/data"
done
if [ -n "$SHARED" ]; then
  for yaml in "$SHARED"/models/onnx-light/*.yaml; do
    name=$(basename "$yaml" .yaml)
    picked "$yaml" || continue
    # float32 only: NVRTC takes seconds per model, and these are many kernels
    python3 "$PEER" data "$yaml" "$WORK/data.$name" --dim N=1 && check fp32 "$name" "$yaml" "$WORK/data.$name" --dim N=1
    rm -rf "$WORK/data.$name"
  done
  for yaml in "$SHARED"/models/bench/*.yaml; do
    name=bench_$(basename "$yaml" .yaml)
    picked "$yaml" || continue
    python3 "$PEER" data "$yaml" "$WORK/data.$name" && check "$PRECISIONS" "$name" "$yaml" "$WORK/data.$name"
    rm -rf "$WORK/data.$name"
  done
fi

TIMED=fp32
case " $PRECISIONS " in *" fp16 "*) TIMED="fp32 fp16" ;; esac
say "2/2 speed and memory: the bench graphs against PyTorch ($TIMED; TF32 off)"
ROWS=()
BW_ROWS=()
COPY_GBS=${DLC_COPY_GBS:-$(python3 "$PEER" bandwidth 2>"$WORK/log" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["gbs"])' 2>/dev/null)}
if [ -n "$COPY_GBS" ]; then say "copy bandwidth (PyTorch, 1 GiB device to device, read + write): $COPY_GBS GB/s"
else fail "copy bandwidth: $(tail -1 "$WORK/log")"; fi
if [ -n "$SHARED" ]; then
  for yaml in "$SHARED"/models/bench/*.yaml; do
    name=$(basename "$yaml" .yaml)
    picked "$yaml" || continue
    # 34 batches: dlrun's median over them, the first (cold) one included
    n=$(python3 -c "import yaml,sys; print(next(iter(yaml.safe_load(open(sys.argv[1]))['dims'].values())))" "$yaml")
    python3 "$PEER" data "$yaml" "$WORK/tdata" --samples $((34 * n)) || { fail "time $name: no data"; continue; }
    for prec in $TIMED; do
      plan=$WORK/bench_$name.$prec.plan # compiled by part 1
      if [ ! -f "$plan" ]; then fail "time $name $prec: no plan"; continue; fi
      if [ -n "${DLC_GPU_CHECK_FAKE:-}" ]; then
        popt=()
        [ "$prec" = fp32 ] || popt=(--precision "$prec")
        timeout 300 "$DLC" "$yaml" -o "$WORK/fake.plan" "${popt[@]}" --emit-cuda "$WORK" >/dev/null 2>&1 &&
          sh "$ROOT/tests/fakecuda/build_kernels.sh" "$WORK"/*.cu "$WORK/kernels.so" && rm -f "$WORK"/*.cu
        export DLC_FAKE_CUDA_KERNELS=$WORK/kernels.so
      fi
      if ! timeout 300 "$DLRUN" "$plan" --data "$WORK/tdata" --out "$WORK/tout" --device cuda --json --profile \
          >"$WORK/time.$name.json" 2>"$WORK/log"; then
        fail "time $name $prec: dlrun: $(tail -1 "$WORK/log")"; rm -rf "$WORK/tout"; continue
      fi
      rm -rf "$WORK/tout"
      say "$name $prec: dlc $(json "$WORK/time.$name.json" '"%.3f ms/batch, %.0f samples/s, start-up %.0f ms" % (d["latency_ms"]["p50"], d["samples_per_second"], d["startup_ms"]["total"])')"
      # the generated memory-bound kernels against the copy bandwidth (target: 80%)
      if [ -n "$COPY_GBS" ]; then
        bw=$(python3 "$PEER" kernels "$WORK/time.$name.json" --copy-gbs "$COPY_GBS" | python3 -c '
import json, sys
k, name, prec = json.load(sys.stdin), sys.argv[1], sys.argv[2]
w = k["worst"]
print("| %s | %s | %d | %d | %.0f%% | %s |" % (name, prec, k["n"], k["at_80"], 100 * k["weighted_of_copy"],
      "%s %.0f%%" % (w["kernel"], 100 * w["of_copy"]) if w else "-"))' "$name" "$prec")
        BW_ROWS+=("$bw")
        say "$name $prec bandwidth: $bw"
      fi
      half=()
      [ "$prec" = fp16 ] && half=(--half)
      if ! timeout 600 python3 "$PEER" time "$yaml" --batches 30 --warmup 5 "${half[@]}" >"$WORK/torch.$name.json" 2>"$WORK/log"; then
        fail "time $name $prec: PyTorch: $(tail -1 "$WORK/log")"; continue
      fi
      row=$(python3 - "$WORK/time.$name.json" "$WORK/torch.$name.json" "$name" "$prec" <<'EOF'
import json, sys
d, t = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
mib = 1 << 20
ms = d["latency_ms"]["p50"]
print("| %s | %s | %d | %.3f | %.3f | %.3f | %.2f | %.1f | %.1f | %.1f | %.0f |" % (
    sys.argv[3], sys.argv[4], d["batch_size"], ms, t["eager_ms"], t["compile_ms"], ms / t["compile_ms"],
    d["slab_bytes"] / mib, t["eager_peak_activation_bytes"] / mib, t["compile_peak_activation_bytes"] / mib,
    d["startup_ms"]["total"]))
EOF
)
      ROWS+=("$row")
      say "$name $prec: $row"
    done
    rm -rf "$WORK/tdata"
  done
fi

{
  echo
  echo "## GPU check: $CARD, $DATE"
  echo
  echo "bench/gpu_check.sh: $PASS GPU-vs-CPU checks passed, ${#FAILED[@]} failed ($PRECISIONS)."
  for f in "${FAILED[@]}"; do echo "- FAILED: $f"; done
  if [ ${#ROWS[@]} -gt 0 ]; then
    echo
    echo "Median batch time on the GPU (dlc: device time of the batch's graph; PyTorch: CUDA events around"
    echo "the forward, median of 30 after 5 warm-up), TF32 off; fp16: dlc's fp16 plan against the same"
    echo "PyTorch module in float16. Memory: dlc's slab (workspace included; params apart) against"
    echo "PyTorch's peak allocation during a forward, its params apart, eager and under torch.compile."
    echo
    echo "| graph | precision | batch | dlc ms | eager ms | torch.compile ms | dlc / compile | dlc slab MiB | eager peak MiB | compile peak MiB | dlc start-up ms |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for r in "${ROWS[@]}"; do echo "$r"; done
  fi
  if [ ${#RUN_ROWS[@]} -gt 0 ]; then
    echo
    echo "Every model checked above, on the GPU: median batch time of its correctness run (few batches,"
    echo "the bundled data or one batch of random data), slab, and dlrun's start-up (plan loaded, graphs"
    echo "captured)."
    echo
    echo "| model | precision | batch | batch p50 ms | slab MiB | start-up ms |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for r in "${RUN_ROWS[@]}"; do echo "$r"; done
  fi
  if [ ${#BW_ROWS[@]} -gt 0 ]; then
    echo
    echo "Generated memory-bound kernels (elementwise, normalization, pooling; at least 1 MB moved) from"
    echo "dlrun --profile (each step alone, mean of 20), bytes read plus written against the copy"
    echo "bandwidth measured in the same run: ${COPY_GBS} GB/s. Target: 80% or more."
    echo
    echo "| graph | precision | kernels | at >= 80% | bytes-weighted | slowest |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for r in "${BW_ROWS[@]}"; do echo "$r"; done
  fi
} >"$WORK/table.md"
cat "$WORK/table.md"
RESULTS=${DLC_RESULTS:-$ROOT/bench/RESULTS.md}
[ -f "$RESULTS" ] || printf '# Benchmark results\n\nEach section is the output of the command it names, with its card and date.\n' >"$RESULTS"
cat "$WORK/table.md" >>"$RESULTS"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then cp "$WORK/table.md" "$OUT/gpu_check.md"; fi
say "done: $PASS passed, ${#FAILED[@]} failed; appended to $RESULTS"
[ ${#FAILED[@]} -eq 0 ]
