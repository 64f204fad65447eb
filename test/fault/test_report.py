#!/usr/bin/env python3
"""End to end over the fault suite's tools, without a cluster: two crafted run
directories (one clean, one with a lost row, a stale read, an epoch going
back and no recovery) go through backstay-check (exit codes, verdict lines)
and report.py (a timeline SVG and pages that parse as XML and show what the
histories hold, and a summary across the two runs).

Environment: BACKSTAY_CHECK (the binary), REPORT (report.py).
"""
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

CHECK = os.environ["BACKSTAY_CHECK"]
REPORT = os.environ["REPORT"]
SVG = "{http://www.w3.org/2000/svg}"
MS = 1_000_000
T0 = 5_000_000_000  # histories start at an arbitrary clock value
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def write_jsonl(path, objs):
    with open(path, "w", encoding="utf-8") as f:
        for o in objs:
            f.write(json.dumps(o) + "\n")


def node(name, role, epoch, streaming):
    return {"node": name, "role": role, "epoch": epoch, "streaming": streaming, "lag_bytes": 0}


def make_run(d, bad):
    """A 5 s run: b1 leads (epoch 1) until a partition at 1 s; writes fail
    1.2-1.6 s; b2 leads (epoch 2) from 1.6 s; heal at 3 s. bad: row 7
    missing on b3, a stale KV read, a write on epoch 1 after epoch 2 was
    acknowledged, and b1 never streams again."""
    os.makedirs(os.path.join(d, "final"))
    write_jsonl(os.path.join(d, "schedule.jsonl"), [
        {"t_ns": T0 + 1000 * MS, "fault": "partition", "target": "b1", "phase": "start"},
        {"t_ns": T0 + 2000 * MS, "fault": "kill", "target": "b3", "phase": "start"},
        {"t_ns": T0 + 2500 * MS, "fault": "kill", "target": "b3", "phase": "end"},
        {"t_ns": T0 + 3000 * MS, "fault": "partition", "target": "b1", "phase": "end"},
    ])
    with open(os.path.join(d, "run.json"), "w", encoding="utf-8") as f:
        json.dump({"seed": 4242 if bad else 17, "nodes": 3, "nemesis": "partition-leader",
                   "mode": "quorum", "recovery_bound_ms": 1000}, f)
    writes, acked, t, i = [], [], 0, 0
    while t < 5000:
        i += 1
        if 1200 <= t < 1600:
            w = {"type": "info"}
        else:
            w = {"type": "ok", "epoch": 1 if t < 1200 else 2, "node": "b1" if t < 1200 else "b2"}
            acked.append(i)
        if bad and t == 2000:
            w = {"type": "ok", "epoch": 1, "node": "b1"}
        w.update({"client": "c1", "id": i, "route": "vip", "t_start_ns": T0 + t * MS,
                  "t_end_ns": T0 + (t + 5) * MS})
        writes.append(w)
        t += 10
    write_jsonl(os.path.join(d, "writes-c1.jsonl"), writes)
    for n in ("b1", "b2", "b3"):
        ids = [x for x in acked if not (bad and n == "b3" and x == 7)]
        with open(os.path.join(d, "final", n + ".ids"), "w", encoding="utf-8") as f:
            f.write("".join(f"{x}\n" for x in ids))
    with open(os.path.join(d, "final", "leader"), "w", encoding="utf-8") as f:
        f.write("b2\n")
    status = []
    for k in range(21):
        t = k * 250
        if t < 1200:
            nodes = [node("b1", "leader", 1, False), node("b2", "follower", 1, True),
                     node("b3", "follower", 1, True)]
        elif t < 1600:
            nodes = [node("b1", "deposed", 1, False), node("b2", "waiting", 1, False),
                     node("b3", "waiting", 1, False)]
        else:
            healed = t >= 3250 and not bad
            nodes = [node("b1", "follower" if healed else "deposed", 2, healed),
                     node("b2", "leader", 2, False), node("b3", "follower", 2, True)]
        status.append({"t_ns": T0 + t * MS, "nodes": nodes})
    write_jsonl(os.path.join(d, "status.jsonl"), status)
    kv = [
        {"process": 0, "type": "invoke", "f": "write", "key": "r", "value": 1, "t_ns": T0},
        {"process": 0, "type": "ok", "f": "write", "key": "r", "value": 1, "t_ns": T0 + 10},
        {"process": 1, "type": "invoke", "f": "cas", "key": "r", "expect": 1, "value": 2,
         "t_ns": T0 + 20},
        {"process": 1, "type": "ok", "f": "cas", "key": "r", "expect": 1, "value": 2,
         "t_ns": T0 + 30},
        {"process": 0, "type": "invoke", "f": "read", "key": "r", "t_ns": T0 + 40},
        {"process": 0, "type": "ok", "f": "read", "key": "r", "value": 1 if bad else 2,
         "t_ns": T0 + 50},
    ]
    write_jsonl(os.path.join(d, "kv-0.jsonl"), kv)
    return writes


def run(args):
    return subprocess.run(args, capture_output=True, text=True, check=False)


def check_exit_codes(good, bad):
    r = run([CHECK, "linear", os.path.join(good, "kv-0.jsonl")])
    expect(r.returncode == 0 and r.stdout.startswith("PASS checker=linearizable"),
           "linear: a linearizable history exits 0 with PASS")
    r = run([CHECK, "linear", os.path.join(bad, "kv-0.jsonl")])
    expect(r.returncode == 1 and r.stdout.startswith("FAIL checker=linearizable") and
           "process 0 read r 1" in r.stdout, "linear: a stale read exits 1 and is shown")
    r = run([CHECK])
    expect(r.returncode == 2, "no checker named: exit 2")
    r = run([CHECK, "recovery", "--heal-ns", "1", "--schedule", "x", "y"])
    expect(r.returncode == 2, "recovery with both --heal-ns and --schedule: exit 2")
    r = run([CHECK, "split", os.path.join(good, "absent.jsonl")])
    expect(r.returncode == 3 and r.stdout.startswith("UNKNOWN checker=split-brain"),
           "a missing file: exit 3 with UNKNOWN")
    wide = [{"process": p, "type": "invoke", "f": "write", "key": "k", "value": p, "t_ns": p}
            for p in range(12)]
    wide += [{"process": p, "type": "ok", "f": "write", "key": "k", "value": p, "t_ns": 100 + p}
             for p in range(12)]
    wide += [{"process": 99, "type": "invoke", "f": "read", "key": "k", "t_ns": 200},
             {"process": 99, "type": "ok", "f": "read", "key": "k", "value": 77, "t_ns": 201}]
    path = os.path.join(good, "..", "wide.jsonl")
    write_jsonl(path, wide)
    r = run([CHECK, "linear", "--budget", "100", path])
    expect(r.returncode == 3 and r.stdout.startswith("UNKNOWN checker=linearizable") and
           "first_undecided=k" in r.stdout, "linear past its budget: exit 3, UNKNOWN")
    r = run([CHECK, "linear", path])
    expect(r.returncode == 1, "the same history within the default budget: FAIL")


def verdicts(d):
    out = {}
    for name in ("linearizable", "lost-writes", "split-brain", "recovery"):
        with open(os.path.join(d, "checks", name + ".txt"), encoding="utf-8") as f:
            out[name] = f.read()
    return out


def check_verdicts(good, bad):
    v = verdicts(good)
    for name, text in v.items():
        expect(text.startswith("PASS"), f"clean run: {name} PASS ({text.splitlines()[0]})")
    v = verdicts(bad)
    for name, text in v.items():
        expect(text.startswith("FAIL"), f"bad run: {name} FAIL ({text.splitlines()[0]})")
    expect("node b3: rows=" in v["lost-writes"] and "missing_ids=7" in v["lost-writes"],
           "bad run: the lost row 7 is named on b3")
    expect("rule=epochs-monotonic-in-real-time" in v["split-brain"] and "epoch=1 node=b1" in
           v["split-brain"], "bad run: the write on the old epoch is named")
    expect("recovered_ms=never" in v["recovery"], "bad run: never recovered")


def bars(root, cls):
    return [e for e in root.iter(SVG + "rect") if e.get("class") == cls]


def check_svg(good, writes):
    root = ET.parse(os.path.join(good, "timeline.svg")).getroot()
    expect(root.tag == SVG + "svg", "timeline.svg is an SVG document")
    faults = bars(root, "fault")
    expect(len(faults) == 2, f"two fault bands ({len(faults)})")
    width = {f.find(SVG + "title").text: float(f.get("width")) for f in faults}
    expect(abs(width["partition b1"] / width["kill b3"] - 4.0) < 0.05,
           "band widths follow the schedule (2 s against 0.5 s)")
    epochs = [e for e in root.iter(SVG + "polyline") if e.get("class") == "epoch"]
    ys = sorted({float(p.split(",")[1]) for e in epochs for p in e.get("points").split()})
    expect(len(epochs) == 2 and len(ys) == 2,
           "the epoch line: two segments (a gap without leader), two levels")
    buckets_ok = {(w["t_end_ns"] - T0) // 100_000_000 for w in writes if w["type"] == "ok"}
    buckets_err = {(w["t_end_ns"] - T0) // 100_000_000 for w in writes if w["type"] != "ok"}
    expect(len(bars(root, "ok")) == len(buckets_ok),
           f"one green bar per 100 ms with acknowledged writes ({len(buckets_ok)})")
    expect(len(bars(root, "err")) == len(buckets_err),
           f"one red bar per 100 ms with failed writes ({len(buckets_err)})")


def check_pages(good, bad, top):
    for d, seed in ((good, "17"), (bad, "4242")):
        root = ET.parse(os.path.join(d, "report.html")).getroot()
        text = "".join(root.itertext())
        expect(seed in text and "partition" in text, f"report.html of seed {seed} parses, "
               "shows the seed and the schedule")
        expect(any(e.tag == SVG + "svg" for e in root.iter()), "the timeline is inline")
    r = run([sys.executable, REPORT, "--summary", top])
    expect(r.returncode == 0, "summary exits 0")
    with open(os.path.join(top, "summary.md"), encoding="utf-8") as f:
        md = f.read()
    expect("| good | 17 | 3 | partition-leader | quorum | PASS | PASS | PASS | PASS |" in md,
           "summary: the clean run's row")
    expect("| bad | 4242 |" in md and "lost-writes 1, split-brain 1" in md,
           "summary: the bad run's row and the FAIL counts")
    expect("| partition-leader | 3 | quorum | 2 | 1 | 1 | 0 |" in md and "| never |" in md,
           "summary: by nemesis, the good run passed, the bad one failed, never recovered")
    ET.parse(os.path.join(top, "summary.html"))
    r = run([sys.executable, REPORT, os.path.join(top, "nowhere")])
    expect(r.returncode == 2, "report.py on a missing directory: exit 2")


def main():
    with tempfile.TemporaryDirectory() as top:
        good, bad = os.path.join(top, "good"), os.path.join(top, "bad")
        writes = make_run(good, False)
        make_run(bad, True)
        check_exit_codes(good, bad)
        for d in (good, bad):
            r = run([sys.executable, REPORT, "--run-checks", CHECK, d])
            expect(r.returncode == 0, f"report.py {os.path.basename(d)} exits 0 {r.stderr}")
        check_verdicts(good, bad)
        check_svg(good, writes)
        check_pages(good, bad, top)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
