#!/usr/bin/env bash
# Configuring against libraft 0.15 (Debian bookworm's own) must fail at
# configure time with a message that says how to get 0.22. A fake raft.pc
# reporting 0.15.0 is put first on PKG_CONFIG_PATH; nothing else changes.
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/pc"
cat >"$tmp/pc/raft.pc" <<PC
prefix=/usr
libdir=\${prefix}/lib
includedir=\${prefix}/include
Name: raft
Description: fake bookworm libraft for a configure test
Version: 0.15.0
Libs: -L\${libdir} -lraft
Cflags: -I\${includedir}
PC

rc=0
PKG_CONFIG_PATH="$tmp/pc" meson setup "$tmp/build" "$src" >"$tmp/out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
	echo "FAIL: meson setup accepted libraft 0.15"
	exit 1
fi
if ! grep -q 'libraft >= 0.22 is required (found: 0.15.0)' "$tmp/out" ||
   ! grep -q 'bookworm-backports' "$tmp/out"; then
	echo "FAIL: configure failed without the libraft message:"
	cat "$tmp/out"
	exit 1
fi
echo "ok: libraft 0.15 rejected at configure time"
