#!/usr/bin/env bash
# Usage: build-rootfs.sh NAME PACKAGES(comma-separated)
# Makes a Debian root filesystem with debootstrap (minbase + PACKAGES) and caches it as
# $CACHE/rootfs/NAME.tar. Idempotent: does nothing when the tarball exists.
source "$(dirname "$0")/lib.sh"
name=$1 pkgs=$2
out=$CACHE/rootfs/$name.tar
[[ -s $out ]] && { echo "rootfs $out present"; exit 0; }
mkdir -p "$CACHE/rootfs"
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
root=$(mktemp -d "$CACHE/rootfs/.$name.XXXX")
trap 'rm -rf "$root"' EXIT
# Debian's default mirror, as configured for debootstrap on this machine.
debootstrap --variant=minbase --include="$pkgs" "$DEBIAN_SUITE" "$root"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" --numeric-owner -cf "$out.tmp" .
mv "$out.tmp" "$out"
du -sh "$out"
