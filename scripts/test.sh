#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then
#   1. a normal build with -Werror and every test;
#   2. the same tests built with ASan + UBSan;
#   3. the libFuzzer targets, each for a bounded time (clang);
#   4. a clang-format check.
# Ends with one summary line: "tests: N passed, N failed, N skipped" (cmocka
# cases counted one by one).
# Tests that need root or network namespaces skip (exit 77) when they cannot run.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >/dev/null || { echo "test: setup failed" >&2; exit 1; }

passed=0 failed=0 skipped=0
failures=()

count() { # count <builddir>: add its results to the totals. A cmocka group
	# counts its cases ("[==========] N test(s) run."), any other test counts once.
	local log="$1/meson-logs/testlog.json" p f s
	[ -f "$log" ] || return 0
	read -r p f s < <(python3 - "$log" <<'PY'
import json, re, sys
c = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in open(sys.argv[1]):
    t = json.loads(line)
    r = t["result"]
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    ran = re.search(r"\[==========\] (\d+) test\(s\) run", out)
    bad = re.search(r"\[  FAILED  \] (\d+) test", out)
    if ran:
        nbad = int(bad.group(1)) if bad else 0
        c["OK"] += int(ran.group(1)) - nbad
        c["FAIL"] += nbad
        if r not in ("OK", "EXPECTEDFAIL") and not nbad:
            c["FAIL"] += 1   # crashed or timed out after its last case
    else:
        c["OK" if r in ("OK", "EXPECTEDFAIL") else "SKIP" if r == "SKIP" else "FAIL"] += 1
print(c["OK"], c["FAIL"], c["SKIP"])
PY
)
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run_suite() { # run_suite <name> <builddir> <meson setup args...>
	local name=$1 dir=$2; shift 2
	echo "== $name"
	rm -rf "$dir"
	if ! meson setup "$dir" "$@" >"$dir.setup.log" 2>&1; then
		cat "$dir.setup.log"; failures+=("$name: configure"); failed=$((failed + 1)); return
	fi
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		tail -n 60 "$dir.build.log"; failures+=("$name: build"); failed=$((failed + 1)); return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 2 "${MESON_TEST_ARGS[@]}" ||
		failures+=("$name: tests")
	count "$dir"
}

MESON_TEST_ARGS=(--no-suite fuzz)
run_suite "build with -Werror" build-test --werror --buildtype=debugoptimized
MESON_TEST_ARGS=(--no-suite fuzz --no-suite faultrun) # the fault run once, in the build above
run_suite "ASan + UBSan" build-asan --werror --buildtype=debug \
	-Db_sanitize=address,undefined -Db_lundef=false
MESON_TEST_ARGS=(--suite fuzz)
CC=clang run_suite "libFuzzer (clang)" build-fuzz --buildtype=debug -Dfuzz=true

echo "== clang-format"
mapfile -t sources < <(git ls-files '*.c' '*.h')
if clang-format --dry-run --Werror "${sources[@]}" 2>build-format.log; then
	passed=$((passed + 1))
else
	head -n 40 build-format.log; failures+=("clang-format"); failed=$((failed + 1))
fi

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "${#failures[@]}" -eq 0 ]
