#!/usr/bin/env python3
"""status_sample.py's mapping from /status documents to a round's entries."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import status_sample as ss  # noqa: E402


def doc(state, epoch=3, tl=4, lsn="0/3000060", sf=None):
    d = {"name": "x", "state": state, "epoch": epoch, "timeline": tl, "lsn": lsn,
         "serving": state == "leader", "pg_healthy": True}
    if sf is not None:
        d["streaming_followers"] = sf
    return d


bad = []


def check(what, got, want):
    if got != want:
        bad.append("%s: %r, want %r" % (what, got, want))


names = ["backend-1", "backend-2", "backend-3"]
es = ss.round_entries(names, [doc("leader", sf=2, lsn="0/3000100"),
                              doc("follower", lsn="0/3000060"), doc("follower", lsn="0/3000100")])
check("leader", es[0], {"node": "backend-1", "role": "leader", "streaming": False, "epoch": 3})
check("follower lag", es[1], {"node": "backend-2", "role": "follower", "streaming": True,
                              "epoch": 3, "lag_bytes": 0xA0})
check("follower at the leader", es[2]["lag_bytes"], 0)
# The leader counts one streaming follower of two: neither is taken as streaming.
es = ss.round_entries(names, [doc("leader", sf=1), doc("follower"), doc("follower")])
check("unconfirmed", [e["streaming"] for e in es], [False, False, False])
# Down, malformed, another timeline (no lag), no leader (nothing confirmed).
es = ss.round_entries(names, [None, {"state": 7}, doc("follower", tl=3)])
check("down", es[0], {"node": "backend-1", "role": "down"})
check("malformed", es[1], {"node": "backend-2", "role": "down"})
check("no leader", es[2], {"node": "backend-3", "role": "follower", "streaming": False, "epoch": 3})
check("lsn", ss.lsn("16/B374D848"), 0x16B374D848)
check("lsn malformed", ss.lsn("nope"), None)
for b in bad:
    print(b)
print("status_sample: %d wrong" % len(bad))
sys.exit(1 if bad else 0)
