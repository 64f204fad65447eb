#!/usr/bin/env python3
"""backstay-check linear against random histories of a real register.

A simulated register serves 5 processes: each operation takes effect at a
random instant inside its [invoke, complete] window, so every history is
linearizable by construction (some completions become "info", which the
checker must also accept). Each must PASS. The same history with one read
changed to a value nobody ever writes must FAIL. Seeds are fixed: the same
histories every run. Environment: BACKSTAY_CHECK.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

CHECK = os.environ["BACKSTAY_CHECK"]


def history(seed, n_ops, procs=5, keys=2, values=4, info_rate=0.03):
    rnd = random.Random(seed)
    free_at = [0] * procs
    ops = []
    for _ in range(n_ops):
        p = min(range(procs), key=lambda q: free_at[q] + rnd.random())
        call = free_at[p] + rnd.randint(0, 50)
        effect = call + rnd.randint(1, 200)
        ops.append({"p": p, "call": call, "effect": effect, "ret": effect + rnd.randint(1, 200),
                    "key": f"k{rnd.randrange(keys)}", "f": rnd.choice(["read", "write", "cas"]),
                    "v": rnd.randrange(values), "e": rnd.randrange(values),
                    "info": rnd.random() < info_rate})
        free_at[p] = ops[-1]["ret"] + 1
    state = {}
    for o in sorted(ops, key=lambda o: o["effect"]):
        cur = state.get(o["key"])
        o["type"] = "ok"
        if o["f"] == "read":
            o["res"] = cur
        elif o["f"] == "write" or cur == o["e"]:
            state[o["key"]] = o["v"]
        else:
            o["type"] = "fail"  # the cas found another value: no effect
        if o["info"]:
            o["type"] = "info"
    lines = []
    for o in ops:
        inv = {"process": o["p"], "type": "invoke", "f": o["f"], "key": o["key"],
               "t_ns": o["call"]}
        if o["f"] != "read":
            inv["value"] = o["v"]
        if o["f"] == "cas":
            inv["expect"] = o["e"]
        done = {"process": o["p"], "type": o["type"], "f": o["f"], "key": o["key"],
                "t_ns": o["ret"]}
        if o["f"] == "read" and o["type"] == "ok":
            done["value"] = o["res"]
        lines += [(o["call"], 0, inv), (o["ret"], 1, done)]
    return [obj for _, _, obj in sorted(lines, key=lambda x: (x[0], x[1]))]


def check(path, objs):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(o) + "\n" for o in objs))
    r = subprocess.run([CHECK, "linear", path], capture_output=True, text=True, check=False)
    return r.returncode, r.stdout.splitlines()[0] if r.stdout else r.stderr


def main():
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "h.jsonl")
        for seed in range(40):
            h = history(seed, 400)
            rc, line = check(path, h)
            if rc != 0:
                bad += 1
                print(f"FAIL seed {seed}: a linearizable history got: {line}")
            reads = [o for o in h if o["f"] == "read" and o["type"] == "ok"]
            random.Random(seed).choice(reads)["value"] = 99
            rc, line = check(path, h)
            if rc != 1:
                bad += 1
                print(f"FAIL seed {seed}: a read of a value never written got: {line}")
    print(f"40 random histories and 40 corrupted ones: {bad} wrong verdicts")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
