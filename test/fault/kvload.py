#!/usr/bin/env python3
"""kvload.py: the fault suite's register workload on backstay's replicated KV
store, through the `backstay kv` CLI, recording a Jepsen-style history for
`backstay-check linear` (test/fault/README.md, "KV register history").

    kvload.py --backstay BIN --secrets FILE --endpoints IP:PORT,... --out FILE
              [--processes 5] [--seconds S] [--seed N] [--ops-per-key 100]
              [--op-timeout-ms 3000] [--prefix fault/]

Run it inside the client namespace (ip netns exec). Each worker thread
loops: read (`kv get`, linearizable), write (`kv put` of a value never
written before) or compare-and-swap (`kv put --expect OLD`, OLD the last
value the workload saw for the key, or a recent one), on the current key;
every --ops-per-key operations (all workers together) the key moves on
(r0, r1, ...: Jepsen's independent keys, which keep the checker's search
small). A worker asks the endpoints in turn, moving on after a failure; the
CLI follows a follower's redirect to the leader.

Outcomes, conservatively: exit 0 is "ok" (a read carries the value read, or
null for "not found"); exit 3 of a cas is "fail" (the compare failed:
nothing changed); anything else -- a timeout (the child is killed), a lost
answer, no leader -- is "info" for writes and cas (it may take effect at
any later time), and a read's is dropped from the checker's view ("info"
too). After an "info" the worker goes on as a new process number (process
numbers never repeat). Times: time.monotonic_ns() (CLOCK_MONOTONIC).

SIGTERM/SIGINT: no new operation starts; running ones end (bounded by the
op timeout); the summary line is printed; exit 0.
"""
import argparse
import json
import random
import signal
import subprocess
import sys
import threading
import time

stop = threading.Event()


def classify(f, rc, stdout, stderr, key):
    """(type, value) of one finished CLI call. value: the read's value."""
    if f == "read":
        if rc == 0:
            text = stdout.strip()
            head = key + " = "
            if text.startswith(head):
                try:
                    return "ok", int(text[len(head):])
                except ValueError:
                    return "info", None
            return "info", None
        if rc == 1 and "not found" in stderr:
            return "ok", None
        return "info", None
    if rc == 0:
        return "ok", None
    if f == "cas" and rc == 3:
        return "fail", None
    return "info", None


class Load:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.out = open(a.out, "a", encoding="utf-8")
        self.ops = 0
        self.next_process = a.processes
        self.last = {}          # key -> the last value seen (ok read or write)
        self.recent = {}        # key -> recent values written
        self.counts = {}
        self.endpoints = a.endpoints.split(",")

    def key(self):
        with self.lock:
            k = "%sr%d" % (self.a.prefix, self.ops // self.a.ops_per_key)
            self.ops += 1
            return k

    def new_process(self):
        with self.lock:
            p = self.next_process
            self.next_process += 1
            return p

    def record(self, line):
        with self.lock:
            self.out.write(json.dumps(line, separators=(",", ":")) + "\n")
            self.out.flush()

    def count(self, f, t):
        with self.lock:
            self.counts[(f, t)] = self.counts.get((f, t), 0) + 1

    def run_cli(self, args, endpoint):
        cmd = [self.a.backstay, "kv"] + args[:1] + ["-c", "/dev/null", "-s", self.a.secrets,
                                                     "--endpoint", endpoint] + args[1:]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=self.a.op_timeout_ms / 1000.0, check=False)
            return r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            return None, "", "timeout"

    def worker(self, idx):
        rng = random.Random(self.a.seed * 1000 + idx)
        process = idx
        ep = idx % len(self.endpoints)
        serial = 0
        end = time.monotonic() + self.a.seconds
        while not stop.is_set() and time.monotonic() < end:
            key = self.key()
            f = rng.choice(("read", "read", "write", "cas", "cas"))
            line = {"process": process, "type": "invoke", "f": f, "key": key}
            if f == "read":
                args = ["get", key]
            elif f == "write":
                serial += 1
                value = (idx + 1) * 1000000 + serial
                line["value"] = value
                args = ["put", key, str(value)]
            else:
                serial += 1
                value = (idx + 1) * 1000000 + serial
                with self.lock:
                    choices = list(self.recent.get(key, []))
                    if key in self.last and self.last[key] is not None:
                        choices += [self.last[key]] * 3
                expect = rng.choice(choices) if choices else rng.randint(1, 3)
                line["expect"] = expect
                line["value"] = value
                args = ["put", "--expect", str(expect), key, str(value)]
            line["t_ns"] = time.monotonic_ns()
            self.record(line)
            rc, so, se = self.run_cli(args, self.endpoints[ep])
            t = time.monotonic_ns()
            typ, val = classify(f, rc, so, se, key) if rc is not None else ("info", None)
            done = {"process": process, "type": typ, "f": f, "key": key, "t_ns": t}
            if f == "read" and typ == "ok":
                done["value"] = val
            elif f != "read" and "value" in line:
                done["value"] = line["value"]
            self.record(done)
            self.count(f, typ)
            if typ == "ok":
                with self.lock:
                    if f == "read":
                        self.last[key] = val
                    else:
                        self.last[key] = line["value"]
                        self.recent.setdefault(key, []).append(line["value"])
                        del self.recent[key][:-4]
            if typ == "info":
                process = self.new_process()
                ep = (ep + 1) % len(self.endpoints)

    def summary(self):
        parts = ["%s_%s=%d" % (f, t, n) for (f, t), n in sorted(self.counts.items())]
        return "kvload ops=%d %s" % (sum(self.counts.values()), " ".join(parts))


def main(argv):
    p = argparse.ArgumentParser(description="the register workload on backstay's KV store")
    p.add_argument("--backstay", required=True)
    p.add_argument("--secrets", required=True)
    p.add_argument("--endpoints", required=True, help="IP:PORT,... (the nodes' consensus ports)")
    p.add_argument("--out", required=True)
    p.add_argument("--processes", type=int, default=5)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ops-per-key", type=int, default=100)
    p.add_argument("--op-timeout-ms", type=int, default=3000)
    p.add_argument("--prefix", default="fault/")
    a = p.parse_args(argv)
    if a.processes < 1 or a.ops_per_key < 1 or a.op_timeout_ms < 100:
        p.error("--processes and --ops-per-key at least 1, --op-timeout-ms at least 100")
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    load = Load(a)
    threads = [threading.Thread(target=load.worker, args=(i,)) for i in range(a.processes)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(0.2)
    load.out.close()
    print(load.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
