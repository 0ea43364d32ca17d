#!/usr/bin/env bash
# tests/fuzz/run.sh: replay the committed crash reproducers, then run each
# built libFuzzer target for a while on its seed corpus. Builds nothing.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     (TARGET: yaml, plan, ...)
#
# BUILD_DIR is a build configured with -DDLC_FUZZ=ON (tests/fuzz/README.md).
# For each target, every file in tests/fuzz/regressions/TARGET/ is run once;
# then the fuzzer runs SECONDS seconds on a scratch corpus in
# BUILD_DIR/fuzz/work/TARGET seeded from tests/fuzz/corpus/TARGET (the
# committed seeds are never written). Crashes, leaks, timeouts and OOMs land in
# BUILD_DIR/fuzz/artifacts/TARGET/. Exit status: 0 when nothing failed, 1 when
# any replay or fuzzing run failed, 2 on bad usage or a target not built.
set -uo pipefail

usage() {
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
build=$1
seconds=$2
shift 2
case $seconds in '' | *[!0-9]*) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$build" 2>/dev/null && pwd) || { echo "$0: no build directory $1" >&2; exit 2; }

all_targets="yaml safetensors json npy plan csv"
targets=${*:-$all_targets}

# Largest input per target: above the largest seed, small enough to stay fast.
max_len() {
  case $1 in
    yaml) echo 262144 ;;   # the seed models reach 145 KB
    plan) echo 131072 ;;   # seed plans stay under 100 KB
    safetensors | csv) echo 16384 ;;
    json) echo 8192 ;;
    npy) echo 4096 ;;
    *) echo 4096 ;;
  esac
}

# Shared by replays and fuzzing. A single input may take 30 s (a big model
# under the sanitizers takes a few) and 2 GiB: more is reported as a hang or
# an out-of-memory, which for a file reader is a bug.
common=(-rss_limit_mb=2048 -timeout=30)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in $targets; do
  bin=$build/fuzz/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "$0: $bin is not built (cmake --build $build --target fuzz)" >&2
    exit 2
  fi
  art=$build/fuzz/artifacts/$t
  work=$build/fuzz/work/$t
  mkdir -p "$art" "$work"
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")

  # 1. every committed reproducer, one process each so all failures show
  if [ -d "$here/regressions/$t" ]; then
    for f in "$here/regressions/$t"/*; do
      [ -f "$f" ] || continue
      if "$bin" "${common[@]}" "$f" >"$art/replay.log" 2>&1; then
        echo "replay $t: ok   ${f#"$here"/}"
      else
        echo "replay $t: FAIL ${f#"$here"/} (log: $art/replay.$(basename "$f").log)"
        mv "$art/replay.log" "$art/replay.$(basename "$f").log"
        grep -m3 -E 'ERROR|runtime error|SUMMARY' "$art/replay.$(basename "$f").log" | sed 's/^/    /'
        failed+=("replay $t/$(basename "$f")")
      fi
    done
  fi

  # 2. fuzz
  [ "$seconds" -gt 0 ] || continue
  echo "fuzz $t: ${seconds}s, max_len $(max_len "$t")"
  log=$art/fuzz.log
  "$bin" "${common[@]}" -max_len="$(max_len "$t")" -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" \
    "$work" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+ +DONE' "$log" | sed 's/^/    /'
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FAIL (exit $rc; log $log)"
    grep -m3 -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | sed 's/^/    /'
    failed+=("fuzz $t")
  else
    echo "fuzz $t: ok"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  echo "(add a new crash to tests/fuzz/regressions/TARGET/, see tests/fuzz/README.md)"
  exit 1
fi
echo "all ok"
