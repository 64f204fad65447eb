# shellcheck shell=bash
# fault_disks.sh: each host's /var/lib/backstay (its Raft store and its
# PostgreSQL) on a small ext4 of its own, a sparse file on a loop device,
# so that one host's disk can be frozen (fsfreeze) or filled alone. Sourced
# after netns_lib.sh, once nh_setup has made the hosts' directories.
#
#   fd_setup N [SIZE]   make and mount the N disks (default 4G, sparse) and
#                       point host i's lib/ at disk i
#   fd_freeze i / fd_thaw i
#   fd_fill i / fd_unfill i    fill disk i to the last block / free it
#   fd_release          thaw, unmount, detach, remove (after nh_cleanup has
#                       ended every process that used them)
#
# The disks live in FD_DIR (/tmp/backstay-disks.XXXXXX, with the owner's
# pid in FD_DIR/owner); fd_setup first releases those of runs whose owner
# is gone (killed before its trap ran).

FD_DIR=
FD_N=0

fd__release_dir() { # DIR: thaw, unmount, detach every disk under it; remove it
	local d=$1 m src
	for m in "$d"/mnt*; do
		[ -d "$m" ] || continue
		if mountpoint -q "$m"; then
			fsfreeze -u "$m" 2>/dev/null || true
			src=$(findmnt -rn -o SOURCE "$m")
			umount "$m" && { [ -z "$src" ] || losetup -d "$src" 2>/dev/null || true; }
		fi
	done
	for m in "$d"/mnt*; do
		! mountpoint -q "$m" || return 0 # still busy: the next run retries
	done
	rm -rf "$d"
}

fd_setup() {
	local n=$1 size=${2:-4G} d owner i
	for d in /tmp/backstay-disks.*; do
		[ -d "$d" ] || continue
		owner=$(cat "$d/owner" 2>/dev/null || echo 0)
		[[ $owner =~ ^[0-9]+$ ]] && [ "$owner" -gt 0 ] && kill -0 "$owner" 2>/dev/null && continue
		fd__release_dir "$d"
	done
	FD_DIR=$(mktemp -d /tmp/backstay-disks.XXXXXX)
	echo $$ >"$FD_DIR/owner"
	FD_N=$n
	for ((i = 1; i <= n; i++)); do
		truncate -s "$size" "$FD_DIR/disk$i.img"
		mkfs.ext4 -q -F -m 0 "$FD_DIR/disk$i.img" || nh_fail "fd_setup: mkfs.ext4 disk $i"
		mkdir -p "$FD_DIR/mnt$i"
		mount -o loop "$FD_DIR/disk$i.img" "$FD_DIR/mnt$i" || nh_fail "fd_setup: mount disk $i"
		chmod 755 "$FD_DIR/mnt$i"
		rmdir "$(host_dir "$i")/lib" && ln -s "$FD_DIR/mnt$i" "$(host_dir "$i")/lib"
	done
}

fd_freeze() { fsfreeze -f "$FD_DIR/mnt$1"; }
fd_thaw() { fsfreeze -u "$FD_DIR/mnt$1" 2>/dev/null || true; }

fd_fill() { # most of it in one fallocate, the last MiB block by block
	local m=$FD_DIR/mnt$1 avail
	avail=$(df --output=avail -B1 "$m" | tail -1)
	[ "$avail" -le $((1 << 20)) ] || fallocate -l $((avail - (1 << 20))) "$m/nemesis-filler" || true
	dd if=/dev/zero of="$m/nemesis-filler2" bs=4k count=1024 status=none 2>/dev/null || true
}
fd_unfill() { rm -f "$FD_DIR/mnt$1/nemesis-filler" "$FD_DIR/mnt$1/nemesis-filler2"; }

fd_release() {
	[ -n "$FD_DIR" ] || return 0
	fd__release_dir "$FD_DIR"
	FD_DIR=
}
