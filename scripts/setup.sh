#!/usr/bin/env bash
# Installs every Debian package backstay's build, tests and demo need, then builds.
# Idempotent: safe to run again. Needs root on Debian 12 (bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential pkg-config meson ninja-build clang llvm libclang-rt-14-dev
      libuv1-dev liblmdb-dev lmdb-utils libprotobuf-c-dev protobuf-c-compiler
      libpq-dev libcmocka-dev libssl-dev libjansson-dev zlib1g-dev libsystemd-dev
      libmicrohttpd-dev libcurl4-openssl-dev
      postgresql-15 postgresql-client-15 iproute2 iputils-ping procps python3 git
      clang-format
      nftables iptables libnetfilter-queue-dev util-linux  # test/fault, netns_lib.sh; setpriv
      haproxy  # pg-vip.sh, pg-bench.sh, test/fault: a stock Chef frontend's HAProxy
      faketime libfaketime)  # test/fault's clock-skew nemesis

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: installing packages needs root (run as root or with sudo)" >&2
		exit 1
	fi
}

enable_backports() {
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "setup: enabling bookworm-backports (for libraft-dev 0.22)"
		cat >/etc/apt/sources.list.d/backstay-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		APT_UPDATED=0
	fi
}

raft_ok() {
	pkg-config --atleast-version=0.22 raft 2>/dev/null
}

pkgs_missing() {
	local p
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
	done
	raft_ok && return 1
	return 0
}

APT_UPDATED=1
if pkgs_missing; then
	need_root
	enable_backports
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
	apt-get install -y -qq --no-install-recommends -t bookworm-backports libraft-dev >/dev/null
fi
raft_ok || { echo "setup: libraft >= 0.22 still missing after install" >&2; exit 1; }

BUILD=${BUILD:-build}
if [ ! -d "$BUILD" ]; then
	meson setup "$BUILD" --buildtype=debugoptimized
fi
ninja -C "$BUILD"
