#!/bin/sh
# build_kernels.sh SOURCE.cu OUT.so: compile CUDA C (dlc's generated kernels,
# or the tests' own) on the host against codegen/shim/cuda_shim.h into a
# kernel library for the fake driver (set DLC_FAKE_CUDA_KERNELS=OUT.so).
# Every `__global__ void [__launch_bounds__(..)] NAME(` in SOURCE is
# registered. Uses $CXX, else c++.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 SOURCE.cu OUT.so" >&2; exit 1; }
src=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
shim=$(cd "$here/../../codegen/shim" && pwd)
names=$(sed -n 's/.*__global__[[:space:]]\{1,\}void[[:space:]]\{1,\}\(__launch_bounds__([^)]*)[[:space:]]*\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*(.*/\2/p' "$src")
[ -n "$names" ] || { echo "$0: no __global__ kernel in $src" >&2; exit 1; }
gen=$(mktemp "${TMPDIR:-/tmp}/dlc-kernels-XXXXXX")
trap 'rm -f "$gen" "$gen.cpp"' EXIT
{
  echo '#include "cuda_shim.h"'
  echo "#include \"$(cd "$(dirname "$src")" && pwd)/$(basename "$src")\""
  printf '#define FAKECUDA_KERNELS'
  for n in $names; do printf ' X(%s)' "$n"; done
  echo
  echo '#include "shim_adapter.h"'
} >"$gen.cpp"
${CXX:-c++} -std=c++17 -O1 -w -shared -fPIC -fvisibility=hidden -I"$shim" -I"$here" -o "$out" "$gen.cpp"
