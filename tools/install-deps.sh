#!/bin/sh
# install-deps.sh: the Debian packages dlc builds and tests with, installed
# only when missing (uses sudo when not root). --ci adds what the CI's extra
# checks use: clang with libFuzzer and the sanitizer runtimes, and valgrind.
# The CUDA toolkit (/usr/local/cuda), for NVRTC and the GPU parts, is
# optional: without it dlc writes CPU-only plans.
set -e
pkgs="build-essential cmake pkg-config libyaml-dev libcunit1-dev python3 python3-venv"
[ "${1:-}" = --ci ] && pkgs="$pkgs clang libclang-rt-14-dev valgrind"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing
