#!/usr/bin/env bash
# The installed binary, as an operator meets it: the sample config round
# trip, a typo in a key, an unknown verb, and the chef-backend-ctl link.
set -euo pipefail
bin=$1
builddir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$bin" gen-sample-backend-config >"$tmp/sample.rb"
"$bin" show-config -c "$tmp/sample.rb" >"$tmp/shown.rb" ||
	fail "show-config rejected gen-sample-backend-config's output"
grep -q "^postgresql.port 5432$" "$tmp/shown.rb" || fail "show-config lost postgresql.port"

printf "publish_address '10.0.0.1'\npostgresql.prot = 5433\n" >"$tmp/typo.rb"
rc=0; "$bin" show-config -c "$tmp/typo.rb" >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "typo config: exit $rc, want 1"
grep -q "typo.rb:2: unknown setting 'postgresql.prot'; did you mean 'postgresql.port'?" "$tmp/err" ||
	fail "typo config: no file:line + suggestion: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "typo config: printed a configuration anyway"

rc=0; "$bin" shwo-config 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "unknown verb: exit $rc, want 2"
grep -q "did you mean 'show-config'" "$tmp/err" || fail "unknown verb: no suggestion"

DESTDIR="$tmp/root" meson install -C "$builddir" --no-rebuild --quiet >/dev/null
unit=$(find "$tmp/root" -path '*/lib/systemd/system/backstay.service')
[ -n "$unit" ] && grep -q '^Type=notify$' "$unit" || fail "backstay.service is not installed"
link=$(find "$tmp/root" -name chef-backend-ctl)
[ -L "$link" ] || fail "chef-backend-ctl is not installed as a link"
"$link" version | grep -q '^backstay ' || fail "chef-backend-ctl version"
rc=0; "$link" shwo-config 2>"$tmp/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "^chef-backend-ctl: unknown command" "$tmp/err" ||
	fail "chef-backend-ctl does not behave like backstay"
echo "ok: cli binary"
