#!/bin/sh
# Fetch the arm64 parts of this example from Debian's archive into ./kit (or $1): the arm64 kernel
# and its modules, busybox-static and GRUB's arm64 EFI images, as foreign packages (no install),
# and the modules.dep that depmod makes at install time.   Needs: dpkg --add-architecture arm64
# && apt-get update (once), kmod (depmod).
set -eu
kit=$(realpath -m "${1:-$(dirname "$0")/kit}")
# The newest arm64 kernel package the archive offers (linux-image-6.1.0-NN-arm64).
version=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-arm64$' | sed -n 's/^linux-image-\(.*\)-arm64 .*/\1/p' | sort -V | tail -1)
[ -n "$version" ] || { echo "no arm64 kernel package known to apt: dpkg --add-architecture arm64 && apt-get update" >&2; exit 1; }
# IMGKIT_DEB_CACHE (set by .ci/run): a folder that keeps the .deb files between runs.
debs=${IMGKIT_DEB_CACHE:-$kit/debs}
mkdir -p "$kit" "$debs"
cd "$debs"
for pkg in "linux-image-$version-arm64" busybox-static grub-efi-arm64-bin; do
  ls "${pkg}"_*_arm64.deb >/dev/null 2>&1 || apt-get download -q "$pkg:arm64"
done
cd "$kit"
for pkg in "linux-image-$version-arm64" busybox-static grub-efi-arm64-bin; do
  d=$(ls "$debs/${pkg}"_*_arm64.deb | sort -V | tail -1)
  dpkg-deb -x "$d" .
done
depmod -b . "$version-arm64"
