#!/usr/bin/env python3
"""test/fault/test_clockrate.py: libbsclockrate.so end to end.

A child Python runs under the shim (LD_PRELOAD) and reads CLOCK_MONOTONIC
and CLOCK_REALTIME side by side while this test rewrites the rate file:
1, then 2, then 0.5. Over each phase the monotonic clock must advance at
the rate times the wall clock (the two are read at the same instants, so
the ratio does not depend on the machine's load), and it must never go
back, at a change of rate least of all. Env: CLOCKRATE_LIB.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
out = []
for line in sys.stdin:
    out.append((time.monotonic(), time.time()))
    if line.strip() == "end":
        break
    sys.stdout.write("ok\n"); sys.stdout.flush()
print(json.dumps(out))
"""


def main():
    lib = os.environ.get("CLOCKRATE_LIB")
    if not lib or not os.path.exists(lib):
        print("test_clockrate: CLOCKRATE_LIB not set or missing")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        rate_file = os.path.join(tmp, "rate")
        with open(rate_file, "w") as f:
            f.write("1\n")
        env = dict(os.environ, LD_PRELOAD=lib, BS_CLOCKRATE_FILE=rate_file)
        child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        phases = []  # (rate, first sample index, last sample index)
        n = 0

        def sample():
            nonlocal n
            child.stdin.write("s\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "ok"
            n += 1

        for rate in ("1", "2", "0.5"):
            with open(rate_file + ".new", "w") as f:
                f.write(rate + "\n")
            os.rename(rate_file + ".new", rate_file)
            time.sleep(0.25)  # the shim reads the file at most every 100 ms
            sample()
            first = n - 1
            for _ in range(40):  # 0.8 s of samples in this phase
                time.sleep(0.02)
                sample()
            phases.append((float(rate), first, n - 1))
        child.stdin.write("end\n")
        child.stdin.flush()
        samples = json.loads(child.stdout.readline())
        child.wait(timeout=10)
    fails = []
    for i in range(1, len(samples)):
        if samples[i][0] < samples[i - 1][0]:
            fails.append(f"monotonic went back at sample {i}: {samples[i - 1][0]} -> {samples[i][0]}")
    for rate, a, b in phases:
        mono = samples[b][0] - samples[a][0]
        wall = samples[b][1] - samples[a][1]
        ratio = mono / wall
        print(f"rate {rate}: monotonic {mono:.3f} s over wall {wall:.3f} s: {ratio:.3f}")
        if abs(ratio - rate) > 0.1 * rate:
            fails.append(f"rate {rate}: monotonic advanced {ratio:.3f} times the wall clock")
    for f in fails:
        print("FAIL: " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
