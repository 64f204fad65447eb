#!/usr/bin/env python3
"""kvload.py's outcome mapping (what the linearizability checker trusts):
only exit 0 is ok, only a cas's exit 3 is fail, everything else is info."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvload  # noqa: E402

cases = [
    (("read", 0, "fault/r1 = 42\n", "", "fault/r1"), ("ok", 42)),
    (("read", 1, "", "backstay kv get: fault/r1: not found\n", "fault/r1"), ("ok", None)),
    (("read", 1, "", "backstay kv get: no leader\n", "fault/r1"), ("info", None)),
    (("read", 0, "fault/r2 = 42\n", "", "fault/r1"), ("info", None)),   # another key's line
    (("read", 0, "fault/r1 = x\n", "", "fault/r1"), ("info", None)),    # not an integer
    (("write", 0, "OK revision 7\n", "", "k"), ("ok", None)),
    (("write", 1, "", "timed out\n", "k"), ("info", None)),
    (("write", 3, "", "", "k"), ("info", None)),                          # only cas has exit 3
    (("cas", 0, "OK revision 8\n", "", "k"), ("ok", None)),
    (("cas", 3, "", "the compare failed\n", "k"), ("fail", None)),
    (("cas", 1, "", "connection refused\n", "k"), ("info", None)),
    (("cas", 2, "", "usage\n", "k"), ("info", None)),
]
bad = 0
for args, want in cases:
    got = kvload.classify(*args)
    if got != want:
        print("classify%r = %r, want %r" % (args, got, want))
        bad += 1
print("kvload classify: %d cases, %d wrong" % (len(cases), bad))
sys.exit(1 if bad else 0)
