#!/usr/bin/env python3
"""bench/cpu_peer.py: dlc's CPU SGEMM against NumPy's BLAS, in one script.

Runs build/bench/cpu_kernels_bench on its sgemm cases and times numpy's
float32 matmul (OpenBLAS or whatever NumPy links) on the same shapes with the
same thread count, best of 20 runs each, and prints GFLOP/s and the ratio.

usage: bench/cpu_peer.py [BUILD_DIR] [THREADS]
"""
import os
import re
import subprocess
import sys
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
threads = sys.argv[2] if len(sys.argv) > 2 else str(os.cpu_count())
# NumPy's BLAS reads these at import: the same number of threads as ours.
for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = threads
import numpy as np  # noqa: E402

out = subprocess.run([os.path.join(build, "bench", "cpu_kernels_bench"), threads, "sgemm"],
                     check=True, capture_output=True, text=True).stdout
print(f"threads: {threads}; numpy {np.__version__}")
print("| case | dlc GFLOP/s | numpy GFLOP/s | dlc / numpy |")
print("| --- | ---: | ---: | ---: |")
for line in out.splitlines():
    m = re.match(r"sgemm (\d+)x(\d+)x(\d+).*threads\s+[\d.]+ ms\s+([\d.]+) GFLOP/s", line)
    if not m:
        continue
    M, N, K = (int(x) for x in m.groups()[:3])
    ours = float(m.group(4))
    rng = np.random.default_rng(0)
    a = rng.random((M, K), dtype=np.float32)
    b = rng.random((K, N), dtype=np.float32)
    best = float("inf")
    for _ in range(20):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    peer = 2 * M * N * K / best / 1e9
    print(f"| sgemm {M}x{N}x{K} | {ours:.1f} | {peer:.1f} | {ours / peer:.2f} |")
