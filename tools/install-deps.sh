#!/bin/sh
# install-deps.sh: the Debian packages dlc builds with, installed only when
# missing (uses sudo when not root). The CUDA toolkit, for the GPU parts,
# is expected in /usr/local/cuda and is optional.
set -e
pkgs="build-essential cmake pkg-config libyaml-dev libcunit1-dev"
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
