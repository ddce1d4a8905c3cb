#!/bin/sh
# Make the squashfs benchmark's input: a minimal Debian 12 root filesystem (debootstrap
# --variant=minbase bookworm), once, in a cache directory. Needs root (debootstrap chroots and
# makes device nodes) and network access to the Debian mirror.
#
#   sudo benchmarks/make-debian-rootfs.sh [CACHE_DIR]     # default: benchmarks/data
#   → prints CACHE_DIR/debian-bookworm-minbase (stamp: CACHE_DIR/debian-bookworm-minbase.complete)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/data}
target=$cache/debian-bookworm-minbase
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -f "$target.complete" ]; then
  echo "$target"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
rm -rf "$target" "$target.complete"
mkdir -p "$cache"
debootstrap --variant=minbase bookworm "$target" "$mirror" >&2
# Nothing from the host's run should leak into the tree: drop apt's caches and logs.
rm -rf "$target/var/cache/apt/archives/"*.deb "$target/var/lib/apt/lists/"* "$target/var/log/"*
touch "$target.complete"
echo "$target"
