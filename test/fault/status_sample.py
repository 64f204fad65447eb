#!/usr/bin/env python3
"""status_sample.py: every node's GET /status (port 7331), sampled in rounds,
as the fault suite's status.jsonl (test/fault/README.md, "Status samples").

    status_sample.py --out FILE [--interval-ms MS] [--seconds S] NAME=HOST ...

Run it inside the client namespace (ip netns exec). Each round asks every
node at once, each with a timeout below the interval, and appends one line:
{"t_ns":..,"nodes":[{"node":"backend-1","role":"leader","epoch":3,
"streaming":false,"lag_bytes":0}, ...]}; a node that did not answer is
{"node":..,"role":"down"}. t_ns is CLOCK_MONOTONIC (the clock every history
of a run uses), read when the round starts.

The mapping from /status (docs/leader-http.md): role = state; epoch = epoch;
streaming = state is "follower" (the leader module calls a node a follower
while its PostgreSQL streams from the holder, on the holder's timeline) and
the round's one leader counts at least as many streaming_followers as there
are followers (a follower that just lost its stream stays "follower" until
its follow timeout: /status has no per-node streaming flag, so when the
leader counts fewer, no follower of the round is taken as streaming);
lag_bytes = the leader's lsn minus the follower's, on the same timeline
(one moment for every node; /status's replication_lag_bytes is each node's own view).

SIGTERM/SIGINT: the round under way is finished and written, then exit 0.
"""
import argparse
import concurrent.futures
import json
import signal
import sys
import time
import urllib.request

stop = False


def on_signal(_sig, _frame):
    global stop
    stop = True


def entry(name, doc):
    """A node's status.jsonl entry from its /status document (None: down)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("state"), str):
        return {"node": name, "role": "down"}
    e = {"node": name, "role": doc["state"], "streaming": doc["state"] == "follower"}
    if isinstance(doc.get("epoch"), int):
        e["epoch"] = doc["epoch"]
    return e


def lsn(text):
    """'16/B374D848' -> int, None if malformed."""
    try:
        hi, lo = text.split("/")
        return (int(hi, 16) << 32) | int(lo, 16)
    except (AttributeError, ValueError):
        return None


def round_entries(names, docs):
    """The entries of one round: entry() of each, then streaming and lag
    from the round's one leader."""
    es = [entry(n, d) for n, d in zip(names, docs)]
    leaders = [d for d in docs if isinstance(d, dict) and d.get("state") == "leader"]
    followers = [e for e in es if e["role"] == "follower"]
    lead = leaders[0] if len(leaders) == 1 else None
    sf = lead.get("streaming_followers") if lead else None
    confirmed = isinstance(sf, int) and sf >= len(followers)
    for e, d in zip(es, docs):
        if e["role"] != "follower":
            continue
        e["streaming"] = confirmed
        if lead and d.get("timeline") == lead.get("timeline"):
            a, b = lsn(lead.get("lsn")), lsn(d.get("lsn"))
            if a is not None and b is not None:
                e["lag_bytes"] = max(0, a - b)
    return es


def fetch(host, timeout):
    try:
        with urllib.request.urlopen("http://%s:7331/status" % host, timeout=timeout) as r:
            return json.load(r)
    except Exception:  # down, refused, slow, malformed: all "down"
        return None


def main(argv):
    p = argparse.ArgumentParser(description="sample every node's /status")
    p.add_argument("--out", required=True)
    p.add_argument("--interval-ms", type=int, default=200)
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("nodes", nargs="+", metavar="NAME=HOST")
    a = p.parse_args(argv)
    nodes = []
    for n in a.nodes:
        name, sep, host = n.partition("=")
        if not sep or not name or not host:
            p.error("want NAME=HOST, not %r" % n)
        nodes.append((name, host))
    if a.interval_ms < 20:
        p.error("--interval-ms at least 20")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    timeout = a.interval_ms * 0.8 / 1000.0
    end = time.monotonic() + a.seconds
    rounds = 0
    with open(a.out, "a", encoding="utf-8") as out, \
            concurrent.futures.ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        while not stop and time.monotonic() < end:
            t0 = time.monotonic_ns()
            docs = list(pool.map(lambda nh: fetch(nh[1], timeout), nodes))
            line = {"t_ns": t0, "nodes": round_entries([nh[0] for nh in nodes], docs)}
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            out.flush()
            rounds += 1
            left = t0 / 1e9 + a.interval_ms / 1000.0 - time.monotonic()
            if left > 0 and not stop:
                time.sleep(left)
    print("status_sample: %d rounds" % rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
