#!/bin/sh
# Make the benchmarks' input: a minimal Debian 12 root filesystem (debootstrap --variant=minbase
# bookworm), once, in a cache directory. Needs root (debootstrap chroots and makes device nodes)
# and network access to the Debian mirror.
#
#   sudo benchmarks/make-debian-rootfs.sh [CACHE_DIR]     # default: benchmarks/data
#   → prints CACHE_DIR/debian-bookworm-minbase (stamp: CACHE_DIR/debian-bookworm-minbase.complete)
#
# apt's lists are kept (issue 15: a real root filesystem has them; the main Packages file is one
# ~48 MiB file among ~5k small ones, which is what exercises big-file streaming); the .deb cache and
# the logs are dropped, since nothing from the host's run should leak into the tree. The stamp says
# "apt-lists" so that a tree made by the older script (lists removed) is made again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-$here/data}
target=$cache/debian-bookworm-minbase
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -f "$target.complete" ] && grep -qx apt-lists "$target.complete"; then
  echo "$target"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
rm -rf "$target" "$target.complete"
mkdir -p "$cache"
debootstrap --variant=minbase bookworm "$target" "$mirror" >&2
rm -rf "$target/var/cache/apt/archives/"*.deb "$target/var/log/"*
echo apt-lists > "$target.complete"
echo "$target"
