#!/usr/bin/env bash
# bad_inputs.sh: every row of docs/BAD_INPUTS.md, run through the real
# commands: each bad input must give its exit status and its message, and
# leave no output file (no plan, no .npy, no temporary) behind.
#
#   tests/cli/bad_inputs.sh BUILD_DIR [--print-table]
#
# --print-table prints the markdown table of docs/BAD_INPUTS.md from the
# messages the commands really print.
set -u
BUILD=$(cd "${1:?usage: bad_inputs.sh BUILD_DIR}" && pwd)
TABLE=${2:-}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
DLC="$BUILD/dlc --no-gpu"
DLRUN="$BUILD/dlrun --device cpu --quiet"
W=$(mktemp -d "${TMPDIR:-/tmp}/dlc-bad-XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
fails=0
rows=()

# expect NAME RC REGEX -- COMMAND...   (checks no file appears in out/ or as out.plan)
expect() {
  local name=$1 want_rc=$2 regex=$3
  shift 4
  rm -rf out out.plan
  local msg rc
  msg=$("$@" 2>&1)
  rc=$?
  local leftovers
  leftovers=$( (ls -A out 2>/dev/null; ls out.plan* 2>/dev/null) | tr '\n' ' ')
  if [ "$rc" != "$want_rc" ] || ! grep -qE -- "$regex" <<<"$msg" || [ -n "$leftovers" ]; then
    echo "FAIL: $name: exit $rc (want $want_rc), leftovers '$leftovers', message:" >&2
    echo "  $msg" >&2
    echo "  (wanted /$regex/)" >&2
    fails=$((fails + 1))
  fi
  rows+=("| $name | $rc | \`$(head -n 1 <<<"$msg" | sed "s|$W/||g; s|$BUILD/||g; s/|/\\\\|/g")\` |")
}

model() { # model FILE BODY: a valid header plus BODY
  printf 'name: t\ndims: {N: 2}\ninputs:\n  x: {shape: [N, 4]}\n%s' "$2" > "$1"
}

# ---------------------------------------------------------------- models
printf 'name: t\ninputs: {x: {shape: [2]}\n' > syntax.yaml
expect "malformed YAML" 1 "syntax.yaml:3:1: error: YAML syntax" -- $DLC syntax.yaml -o out.plan
model topkey.yaml $'nodes: []\noutputs: [x]\nlayers: 3\n'
expect "unknown top-level key" 1 "topkey.yaml:7:1: error: unknown key 'layers' in the model" -- $DLC topkey.yaml -o out.plan
model op.yaml $'nodes:\n  - {op: Convolution, in: x, out: y}\noutputs: [y]\n'
expect "unknown op" 1 "op.yaml:6:10: error: unknown op 'Convolution'" -- $DLC op.yaml -o out.plan
model attr.yaml $'nodes:\n  - {op: Concat, in: [x, x], out: y}\noutputs: [y]\n'
expect "missing attribute" 1 "attr.yaml:6:5: error: node 'Concat_0' \(Concat\) is missing the required attribute 'axis'" -- $DLC attr.yaml -o out.plan
model attrtype.yaml $'nodes:\n  - {op: Softmax, in: x, out: y, axis: last}\noutputs: [y]\n'
expect "ill-typed attribute" 1 "attrtype.yaml:6:40: error: .*attribute 'axis' must be an integer, found the string 'last'" -- $DLC attrtype.yaml -o out.plan
model unkattr.yaml $'nodes:\n  - {op: Relu, in: x, out: y, slope: 2}\noutputs: [y]\n'
expect "unknown attribute" 1 "unkattr.yaml:6:31: error: .*has no attribute 'slope'" -- $DLC unkattr.yaml -o out.plan
model undef.yaml $'nodes:\n  - {op: Relu, in: z, out: y}\noutputs: [y]\n'
expect "undefined tensor" 1 "undef.yaml:6:20: error: .*reads undefined tensor 'z'" -- $DLC undef.yaml -o out.plan
model twice.yaml $'nodes:\n  - {op: Relu, in: x, out: y}\n  - {op: Neg, in: x, out: y}\noutputs: [y]\n'
expect "tensor defined twice" 1 "twice.yaml:7:27: error: tensor 'y' is defined twice \(first at twice.yaml:6:28\)" -- $DLC twice.yaml -o out.plan
model cycle.yaml $'nodes:\n  - {op: Add, in: [x, c], out: a}\n  - {op: Relu, in: a, out: b}\n  - {op: Relu, in: b, out: c}\noutputs: [c]\n'
expect "cycle" 1 "cycle.yaml:6:5: error: the graph has a cycle: 'a' -> 'b' -> 'c' -> 'a'" -- $DLC cycle.yaml -o out.plan
model shape.yaml $'params:\n  b: {shape: [3], init: zeros}\nnodes:\n  - {op: Add, in: [x, b], out: y}\noutputs: [y]\n'
expect "shape mismatch" 1 "shape.yaml:8:23: error: .*shapes \[N=2, 4\] and \[3\] \('b'\) cannot be broadcast" -- $DLC shape.yaml -o out.plan
model dtype.yaml $'params:\n  b: {shape: [4], dtype: float16, init: zeros}\nnodes:\n  - {op: Add, in: [x, b], out: y}\noutputs: [y]\n'
expect "dtype mismatch" 1 "dtype.yaml:8:23: error: .*dtype mismatch: 'b' is float16 but 'x' is float32" -- $DLC dtype.yaml -o out.plan
printf 'name: t\ndims: {N: 0}\ninputs:\n  x: {shape: [N]}\nnodes: []\noutputs: [x]\n' > dim0.yaml
expect "dimension of 0" 1 "dim0.yaml:2:11: error: dimension 'N' must be a positive integer" -- $DLC dim0.yaml -o out.plan
printf 'name: t\ninputs:\n  x: {shape: [M]}\nnodes: []\noutputs: [x]\n' > dimname.yaml
expect "undeclared dimension" 1 "dimname.yaml:3:15: error: dimension 0 of 'x' is 'M', which is not declared in dims" -- $DLC dimname.yaml -o out.plan
printf 'name: t\ninputs:\n  x: {shape: [1099511627776, 1099511627776]}\nnodes:\n  - {op: Relu, in: x, out: y}\noutputs: [y]\n' > huge.yaml
expect "size overflows 64 bits" 1 "huge.yaml:3:14: error: 'x' has more elements than fit in 64 bits" -- $DLC huge.yaml -o out.plan
expect "unknown --dim" 1 "--dim B=3: the model has no dimension 'B'" -- $DLC shape.yaml --dim B=3 -o out.plan

# ---------------------------------------------------------------- weights
wmodel() { printf 'name: t\nweights: w.safetensors\ninputs:\n  x: {shape: [3, 2]}\nparams:\n  w: {shape: [2, 2]}\nnodes:\n  - {op: MatMul, in: [x, w], out: y}\noutputs: [y]\n' > w.yaml; }
# safetensors FILE HEADER DATA_BYTES: 8-byte length, header, zero data
safetensors() {
  local hdr=$2
  python3 - "$1" "$hdr" "$3" <<'EOF'
import struct, sys
path, hdr, n = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
open(path, "wb").write(struct.pack("<Q", len(hdr)) + hdr + bytes(n))
EOF
}
wmodel
expect "weights file missing" 1 "w.yaml:2:10: error: weights file: .*w.safetensors.*No such file" -- $DLC w.yaml -o out.plan
safetensors w.safetensors '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 8
expect "weights truncated" 1 "w.yaml:2:10: error: weights file: .*" -- $DLC w.yaml -o out.plan
safetensors w.safetensors '{"w":{"dtype":"F32","shape":[4,1],"data_offsets":[0,16]}}' 16
expect "weights shape mismatch" 1 "w.yaml:6:3: error: param 'w' is float32 \[2, 2\] in the model but F32 \[4, 1\]" -- $DLC w.yaml -o out.plan
safetensors w.safetensors '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"v":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}' 16
expect "weights overlapping offsets" 1 "w.yaml:2:10: error: weights file: .*overlap" -- $DLC w.yaml -o out.plan
safetensors w.safetensors '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 8
expect "weights offsets out of range" 1 "w.yaml:2:10: error: weights file: .*" -- $DLC w.yaml -o out.plan
python3 -c "import struct; open('w.safetensors','wb').write(struct.pack('<Q', 1 << 40) + b'{}')"
expect "weights huge header" 1 "w.yaml:2:10: error: weights file: .*header" -- $DLC w.yaml -o out.plan
safetensors w.safetensors '{"v":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 16
expect "weights lack a param" 1 "w.yaml:6:3: error: param 'w' is not in the weights file" -- $DLC w.yaml -o out.plan

# ---------------------------------------------------------------- plans
$DLC "$SRC/models/mlp/mlp.yaml" -o good.plan --quiet || { echo "FAIL: cannot compile the MLP" >&2; exit 1; }
mkdir -p data && cp "$SRC/models/mlp/data/x.npy" data/
plan_size=$(stat -c %s good.plan)
expect "plan missing" 3 "dlrun: cannot open plan nowhere.plan: No such file or directory" -- $DLRUN nowhere.plan --data data --out out
head -c $((plan_size / 2)) good.plan > truncated.plan
expect "plan truncated" 3 "truncated.plan: plan is [0-9]+ bytes but its header says [0-9]+: the file is truncated" -- $DLRUN truncated.plan --data data --out out
python3 - <<'EOF'
b = bytearray(open("good.plan", "rb").read())
b[len(b) // 3] ^= 0x10
open("flipped.plan", "wb").write(b)
EOF
expect "plan bit-flipped" 3 "flipped.plan: plan checksum mismatch" -- $DLRUN flipped.plan --data data --out out
# edits with the checksum recomputed (CRC-32C of the file with bytes 24..27 zero)
crc_edit() { # crc_edit OUT PYTHON_EDIT
  python3 - "$1" "$2" <<'EOF'
import struct, sys
b = bytearray(open("good.plan", "rb").read())
exec(sys.argv[2])
b[24:28] = b"\0\0\0\0"
t = []
for i in range(256):
    c = i
    for _ in range(8): c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    t.append(c)
crc = 0xFFFFFFFF
for x in b: crc = (crc >> 8) ^ t[(crc ^ x) & 0xFF]
b[24:28] = struct.pack("<I", crc ^ 0xFFFFFFFF)
open(sys.argv[1], "wb").write(b)
EOF
}
crc_edit newer.plan 'b[8:12] = struct.pack("<I", 99)'
expect "plan from a newer format version" 3 "newer.plan: plan format version 99 is newer than this dlrun understands" -- $DLRUN newer.plan --data data --out out
# TENSORS is section 4: table entry at 64 + 3*32; its count at +16, its offset at +8
crc_edit counts.plan 'b[64+3*32+16:64+3*32+24] = struct.pack("<Q", 1 << 40)'
expect "plan count past the file" 3 "counts.plan: corrupt plan: section 4 .* lies outside the file" -- $DLRUN counts.plan --data data --out out
crc_edit offset.plan '
off = struct.unpack("<Q", b[64+3*32+8:64+3*32+16])[0]
b[off+88:off+96] = struct.pack("<Q", 1 << 40)'
expect "plan offset outside the slab" 3 "offset.plan: invalid plan: tensor 'x' .* lies outside its slab region" -- $DLRUN offset.plan --data data --out out

# ---------------------------------------------------------------- data
npy() { # npy FILE DESCR SHAPE [FORTRAN] [TRUNCATE]: a header and zero data
  python3 - "$@" <<'EOF'
import sys
path, descr, shape = sys.argv[1], sys.argv[2], eval(sys.argv[3])
fortran = len(sys.argv) > 4 and sys.argv[4] == "F"
hdr = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))
hdr += " " * (-(len(hdr) + 11) % 64) + "\n"
n = {"<f4": 4, ">f4": 4, "<f8": 8, "<f2": 2, "<i8": 8}[descr]
for d in shape: n *= d
if len(sys.argv) > 5: n //= 2
open(path, "wb").write(b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr.encode() + bytes(n))
EOF
}
expect "data directory missing" 2 "dlrun: data directory nodir: No such file or directory" -- $DLRUN good.plan --data nodir --out out
mkdir -p d1/x.npy
expect "data file unreadable (a directory)" 2 "d1/x.npy" -- $DLRUN good.plan --data d1 --out out
mkdir -p d2 && npy d2/x.npy '<f8' '(5, 64)'
expect ".npy of the wrong dtype" 2 "d2/x.npy: unsupported dtype '<f8' \(float64\)" -- $DLRUN good.plan --data d2 --out out
mkdir -p d3 && npy d3/x.npy '<f4' '(5, 63)'
expect ".npy of the wrong shape" 2 "d3/x.npy has shape \(5, 63\) but input 'x' needs \(M, 64\) with M samples" -- $DLRUN good.plan --data d3 --out out
mkdir -p d4 && npy d4/x.npy '<f4' '(5, 64)' F
expect ".npy in Fortran order" 2 "Fortran order" -- $DLRUN good.plan --data d4 --out out
mkdir -p d5 && npy d5/x.npy '>f4' '(5, 64)'
expect ".npy big-endian" 2 "big-endian" -- $DLRUN good.plan --data d5 --out out
mkdir -p d6 && npy d6/x.npy '<f4' '(5, 64)' C T
expect ".npy truncated" 2 "d6/x.npy: truncated" -- $DLRUN good.plan --data d6 --out out
mkdir -p d7 && python3 -c "open('d7/x.npy','wb').write(b'\x93NUMPY\x02\x00' + (1 << 30).to_bytes(4, 'little') + b'{}')"
expect ".npy with an absurd header" 2 "d7/x.npy: .*header" -- $DLRUN good.plan --data d7 --out out
printf 'name: t\ndims: {N: 2}\ninputs:\n  a: {shape: [N, 2]}\n  b: {shape: [N, 2]}\nnodes:\n  - {op: Add, in: [a, b], out: y}\noutputs: [y]\n' > two.yaml
$DLC two.yaml -o two.plan --quiet
mkdir -p d8 && npy d8/a.npy '<f4' '(5, 2)' && npy d8/b.npy '<f4' '(4, 2)'
expect "inputs with different sample counts" 2 "inputs hold different numbers of samples: .*a.npy has 5, .*b.npy has 4" -- $DLRUN two.plan --data d8 --out out
echo file > blocker
expect "output directory cannot be written" 5 "output directory blocker/out: Not a directory" -- $DLRUN good.plan --data data --out blocker/out

# ---------------------------------------------------------------- faults
# NVRTC refusing the generated program (here: an architecture it does not
# know): the log, where the source was kept, no plan (only with NVRTC)
if "$BUILD/dlc" "$SRC/models/mlp/mlp.yaml" --json 2>/dev/null | grep -q '"cubin_bytes"'; then
  expect "NVRTC failure" 1 "error: NVRTC could not compile the generated CUDA; the source is in ./mlp.failed.cu" -- \
    "$BUILD/dlc" "$SRC/models/mlp/mlp.yaml" -o out.plan --cuda-arch 12
fi
# a disk that fills up: the file size limit makes the output write fail
expect "disk full while writing outputs" 5 "(File too large|No space left)" -- bash -c "ulimit -f 8; exec $DLRUN good.plan --data data --out out"
# SIGINT in the middle of a long run: exit 130, nothing written
mkdir -p dlong && npy dlong/x.npy '<f4' '(400000, 64)'
# (signalled once its output files are open, i.e. mid-stream)
expect "SIGINT during a run" 130 "interrupted" -- bash -c "$DLRUN good.plan --data dlong --out out & pid=\$!;
  for i in \$(seq 200); do ls -A out 2>/dev/null | grep -q tmp && break; sleep 0.02; done;
  kill -INT \$pid; wait \$pid"

if [ "$TABLE" = --print-table ]; then
  echo "| bad input | exit | message |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
fi
if [ "$fails" -gt 0 ]; then
  echo "bad_inputs: $fails of ${#rows[@]} cases failed" >&2
  exit 1
fi
echo "bad_inputs: all ${#rows[@]} cases give their exit status and message and leave nothing behind"
