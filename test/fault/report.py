#!/usr/bin/env python3
"""backstay fault-suite report: one page per run, and a summary across runs.

    report.py [--run-checks BACKSTAY_CHECK] RUN_DIR      -> RUN_DIR/report.html, timeline.svg
    report.py --summary DIR                              -> DIR/summary.html, summary.md

RUN_DIR holds what the harness wrote (test/fault/README.md, "A run directory"):
run.json, schedule.jsonl, writes*.jsonl, kv*.jsonl, status.jsonl, final/,
checks/NAME.txt (backstay-check's output, verdict line first). With
--run-checks the checkers are run first and their output saved in checks/.
A summary's DIR holds run directories (any subdirectory with a run.json).

Python 3 standard library only. Exit: 0 written, 2 bad usage, 3 a file
could not be read.
"""
import argparse
import glob
import html
import json
import os
import subprocess
import sys

BUCKET_NS = 100_000_000  # 100 ms
CHECKERS = ["linearizable", "lost-writes", "split-brain", "recovery"]
WIDTH, LEFT, RIGHT = 1000, 70, 20
FAULT_ROW, EPOCH_H, RATE_H, GAP = 16, 90, 120, 28


class InputError(Exception):
    pass


def read_jsonl(path):
    """Every JSON object of a JSON-lines file; [] when the file is absent."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}:{n}: {e}") from e
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{n}: not a JSON object")
            out.append(obj)
    return out


def read_many(run, pattern):
    out = []
    for path in sorted(glob.glob(os.path.join(run, pattern))):
        out.extend(read_jsonl(path))
    return out


def read_run_json(run):
    path = os.path.join(run, "run.json")
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except ValueError as e:
        raise InputError(f"{path}: {e}") from e
    if not isinstance(meta, dict):
        raise InputError(f"{path}: not a JSON object")
    return meta


def read_checks(run):
    """checker -> (verdict line, detail lines)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(run, "checks", "*.txt"))):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        name = os.path.basename(path)[:-4]
        out[name] = (lines[0] if lines else "UNKNOWN (empty output)", lines[1:])
    return out


def verdict_of(line):
    word = line.split(" ", 1)[0]
    return word if word in ("PASS", "FAIL", "UNKNOWN") else "UNKNOWN"


def field_of(line, key):
    for part in line.split():
        if part.startswith(key + "="):
            return part[len(key) + 1:]
    return None


def load_run(run):
    return {
        "dir": run,
        "meta": read_run_json(run),
        "schedule": read_jsonl(os.path.join(run, "schedule.jsonl")),
        "writes": read_many(run, "writes*.jsonl"),
        "kv": read_many(run, "kv*.jsonl"),
        "status": read_jsonl(os.path.join(run, "status.jsonl")),
        "checks": read_checks(run),
    }


# ---- running the checkers ---------------------------------------------------

def run_checks(run, binary):
    """Run backstay-check's four checkers on run's files; save checks/*.txt."""
    meta = read_run_json(run)
    writes = sorted(glob.glob(os.path.join(run, "writes*.jsonl")))
    kv = sorted(glob.glob(os.path.join(run, "kv*.jsonl")))
    status = os.path.join(run, "status.jsonl")
    schedule = os.path.join(run, "schedule.jsonl")
    plan = []
    if kv:
        plan.append(("linearizable", ["linear"] + kv))
    if writes:
        lost = ["lost", "--final", os.path.join(run, "final")]
        if meta.get("mode") == "async":
            lost.append("--async")
        plan.append(("lost-writes", lost + writes))
        plan.append(("split-brain", ["split"] + writes))
    if os.path.exists(status) and os.path.exists(schedule):
        bound = str(meta.get("recovery_bound_ms", 30000))
        plan.append(("recovery", ["recovery", "--schedule", schedule, "--bound-ms", bound,
                                  status]))
    os.makedirs(os.path.join(run, "checks"), exist_ok=True)
    for name, args in plan:
        res = subprocess.run([binary] + args, capture_output=True, text=True, check=False)
        with open(os.path.join(run, "checks", name + ".txt"), "w", encoding="utf-8") as f:
            f.write(res.stdout if res.stdout else f"UNKNOWN checker={name} exit={res.returncode}\n")


# ---- the timeline --------------------------------------------------------------

def time_span(r):
    ts = [e["t_ns"] for e in r["schedule"] + r["status"] + r["kv"] if "t_ns" in e]
    ts += [w[k] for w in r["writes"] for k in ("t_start_ns", "t_end_ns") if k in w]
    if not ts:
        return 0, 1
    return min(ts), max(max(ts), min(ts) + 1)


def fault_bands(schedule, t_end):
    """[(lane label, start, end)]: each start paired with the next end of
    the same fault and target; a fault never ended runs to t_end."""
    open_, bands = {}, []
    for e in sorted(schedule, key=lambda e: e.get("t_ns", 0)):
        lane = f'{e.get("fault", "?")} {e.get("target", "")}'.strip()
        if e.get("phase") == "start":
            open_.setdefault(lane, []).append(e["t_ns"])
        elif e.get("phase") == "end" and open_.get(lane):
            bands.append((lane, open_[lane].pop(0), e["t_ns"]))
    for lane, starts in open_.items():
        bands.extend((lane, s, t_end) for s in starts)
    return bands


def epoch_steps(r):
    """[(t_ns, epoch or None)]: the leader's epoch from the status samples,
    else the epochs of acknowledged writes in time order."""
    steps = []
    for s in r["status"]:
        leaders = [n for n in s.get("nodes", []) if n.get("role") == "leader"]
        steps.append((s["t_ns"], leaders[0].get("epoch") if len(leaders) == 1 else None))
    if not steps:
        oks = sorted((w["t_end_ns"], w.get("epoch")) for w in r["writes"]
                     if w.get("type") == "ok")
        steps = oks
    return steps


def rate_buckets(r, t0, t1):
    """ok and error (fail or info) counts per 100 ms bucket, by completion."""
    n = (t1 - t0) // BUCKET_NS + 1
    ok, err = [0] * n, [0] * n
    if r["writes"]:
        events = [(w["t_end_ns"], w.get("type")) for w in r["writes"]]
    else:
        events = [(o["t_ns"], o.get("type")) for o in r["kv"] if o.get("type") != "invoke"]
    for t, kind in events:
        b = (t - t0) // BUCKET_NS
        if 0 <= b < n:
            if kind == "ok":
                ok[b] += 1
            else:
                err[b] += 1
    return ok, err


class Svg:
    def __init__(self, t0, t1):
        self.t0, self.t1, self.parts = t0, t1, []

    def x(self, t):
        return LEFT + (t - self.t0) * (WIDTH - LEFT - RIGHT) / (self.t1 - self.t0)

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, **attrs):
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.add(f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{html.escape(str(s))}</text>')


def draw_faults(svg, bands, y):
    lanes = sorted({b[0] for b in bands})
    for i, lane in enumerate(lanes):
        svg.text(4, y + i * FAULT_ROW + 12, lane, font_size=10)
    for lane, s, e in bands:
        row = lanes.index(lane)
        x0, x1 = svg.x(s), svg.x(e)
        svg.add(f'<rect class="fault" x="{x0:.1f}" y="{y + row * FAULT_ROW + 2}" '
                f'width="{max(x1 - x0, 1):.1f}" height="{FAULT_ROW - 4}" fill="#e8a33d">'
                f'<title>{html.escape(lane)}</title></rect>')
    return y + max(len(lanes), 1) * FAULT_ROW


def draw_epochs(svg, steps, y, t1):
    known = [e for _, e in steps if e is not None]
    top = max(known) if known else 1
    svg.text(4, y + 12, "leader epoch", font_size=10)
    svg.text(LEFT - 4, y + 12, top, font_size=10, text_anchor="end")
    pts, prev_y = [], None
    for t, e in steps:
        if e is None:
            if pts:
                pts.append(f"{svg.x(t):.1f},{prev_y:.1f}")
                svg.add(f'<polyline class="epoch" fill="none" stroke="#2b5fad" stroke-width="2" '
                        f'points="{" ".join(pts)}"/>')
            pts, prev_y = [], None
            continue
        ey = y + EPOCH_H - 4 - (EPOCH_H - 8) * e / top
        if ey != prev_y:
            svg.text(svg.x(t) + 2, ey - 3, f"e{e}", font_size=9, fill="#2b5fad")
        if prev_y is not None:
            pts.append(f"{svg.x(t):.1f},{prev_y:.1f}")
        pts.append(f"{svg.x(t):.1f},{ey:.1f}")
        prev_y = ey
    if pts:
        pts.append(f"{svg.x(t1):.1f},{prev_y:.1f}")
        svg.add(f'<polyline class="epoch" fill="none" stroke="#2b5fad" stroke-width="2" '
                f'points="{" ".join(pts)}"/>')
    return y + EPOCH_H


def draw_rates(svg, ok, err, y):
    top = max(ok + err + [1])
    svg.text(4, y + 12, "writes / 100 ms", font_size=10)
    svg.text(4, y + 26, "ok", font_size=10, fill="#3c8d40")
    svg.text(24, y + 26, "errors", font_size=10, fill="#c0392b")
    svg.text(LEFT - 4, y + 12, top, font_size=10, text_anchor="end")
    w = max(svg.x(svg.t0 + BUCKET_NS) - svg.x(svg.t0), 0.5)
    base = y + RATE_H
    for i, (o, e) in enumerate(zip(ok, err)):
        x = svg.x(svg.t0 + i * BUCKET_NS)
        if o:
            h = (RATE_H - 4) * o / top
            svg.add(f'<rect class="ok" x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" '
                    f'height="{h:.1f}" fill="#3c8d40"/>')
        if e:
            h = (RATE_H - 4) * e / top
            svg.add(f'<rect class="err" x="{x:.1f}" y="{base - h:.1f}" width="{w:.1f}" '
                    f'height="{h:.1f}" fill="#c0392b" fill-opacity="0.8"/>')
    return base


def draw_axis(svg, y):
    span_s = (svg.t1 - svg.t0) / 1e9
    step = next((s for s in (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600) if span_s / s <= 12), 1200)
    svg.add(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#444"/>')
    k = 0
    while k * step <= span_s + 1e-9:
        x = svg.x(svg.t0 + int(k * step * 1e9))
        svg.add(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#444"/>')
        svg.text(x, y + 16, f"{k * step:g}s", font_size=10, text_anchor="middle")
        k += 1
    return y + 24


def timeline_svg(r):
    t0, t1 = time_span(r)
    svg = Svg(t0, t1)
    bands = fault_bands(r["schedule"], t1)
    y = draw_faults(svg, bands, 8) + GAP
    y = draw_epochs(svg, epoch_steps(r), y, t1) + GAP
    ok, err = rate_buckets(r, t0, t1)
    y = draw_axis(svg, draw_rates(svg, ok, err, y) + 4)
    shade = "".join(
        f'<rect class="shade" x="{svg.x(s):.1f}" y="0" width="{max(svg.x(e) - svg.x(s), 1):.1f}" '
        f'height="{y}" fill="#e8a33d" fill-opacity="0.12"/>' for _, s, e in bands)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" '
            f'viewBox="0 0 {WIDTH} {y}" font-family="sans-serif">'
            f'<rect x="0" y="0" width="{WIDTH}" height="{y}" fill="white"/>'
            + shade + "".join(svg.parts) + "</svg>\n")


# ---- the pages -------------------------------------------------------------------

STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1100px}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
         "text-align:left;vertical-align:top}.PASS{background:#d7f0d2}.FAIL{background:#f6c6c0}"
         ".UNKNOWN{background:#f6ecbf}pre{background:#f4f4f4;padding:6px;overflow-x:auto}")


def page(title, body):
    return ("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head>"
            f"<meta charset=\"utf-8\"/><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def verdict_rows(checks):
    rows = []
    for name in CHECKERS + sorted(set(checks) - set(CHECKERS)):
        if name not in checks:
            rows.append(f"<tr><td>{name}</td><td>not run</td><td></td></tr>")
            continue
        line, details = checks[name]
        v = verdict_of(line)
        more = f"<pre>{html.escape(chr(10).join(details))}</pre>" if details else ""
        rows.append(f'<tr><td>{html.escape(name)}</td><td class="{v}">{v}</td>'
                    f"<td><code>{html.escape(line)}</code>{more}</td></tr>")
    return "".join(rows)


def run_report(run, binary=None):
    if binary:
        run_checks(run, binary)
    r = load_run(run)
    svg = timeline_svg(r)
    with open(os.path.join(run, "timeline.svg"), "w", encoding="utf-8") as f:
        f.write(svg)
    meta, t0 = r["meta"], time_span(r)[0]
    sched = "".join(
        f'<tr><td>{(e.get("t_ns", t0) - t0) / 1e9:.3f}</td><td>{html.escape(str(e.get("fault")))}'
        f'</td><td>{html.escape(str(e.get("target", "")))}</td>'
        f'<td>{html.escape(str(e.get("phase")))}</td></tr>'
        for e in sorted(r["schedule"], key=lambda e: e.get("t_ns", 0)))
    oks = sum(1 for w in r["writes"] if w.get("type") == "ok")
    errs = len(r["writes"]) - oks
    meta_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                        for k, v in meta.items())
    body = (f"<h1>backstay fault run: {html.escape(os.path.basename(os.path.abspath(run)))}</h1>"
            f"<p>seed <b>{html.escape(str(meta.get('seed', '?')))}</b>, "
            f"acknowledged writes {oks}, failed or unknown {errs}, "
            f"KV history lines {len(r['kv'])}</p>"
            f"<table>{meta_rows}</table>"
            "<h2>Verdicts</h2><table><tr><th>checker</th><th>verdict</th><th>details</th></tr>"
            f"{verdict_rows(r['checks'])}</table>"
            "<h2>Timeline</h2><p>faults (orange bands), the leader's epoch, and writes per "
            "100 ms (green acknowledged, red failed or unknown).</p>"
            f"{svg}"
            "<h2>Schedule</h2><table><tr><th>t (s)</th><th>fault</th><th>target</th>"
            f"<th>phase</th></tr>{sched}</table>")
    with open(os.path.join(run, "report.html"), "w", encoding="utf-8") as f:
        f.write(page(f"backstay fault run {meta.get('seed', '')}", body))


def summary_row(run):
    r = load_run(run)
    meta, checks = r["meta"], r["checks"]
    verdicts = [verdict_of(checks[c][0]) if c in checks else "-" for c in CHECKERS]
    rec = field_of(checks["recovery"][0], "recovered_ms") if "recovery" in checks else None
    oks = sum(1 for w in r["writes"] if w.get("type") == "ok")
    return {"run": os.path.basename(os.path.abspath(run)), "seed": meta.get("seed", "?"),
            "nodes": meta.get("nodes", "?"), "nemesis": meta.get("nemesis", "?"),
            "mode": meta.get("mode", "quorum"), "verdicts": verdicts, "acked": oks,
            "errors": len(r["writes"]) - oks, "recovered_ms": rec or "-"}


def outcome(r):
    """passed (every checker PASS), failed (any FAIL) or undecided."""
    if "FAIL" in r["verdicts"]:
        return "failed"
    return "passed" if all(v == "PASS" for v in r["verdicts"]) else "undecided"


def by_kind(rows):
    """Markdown lines: one row per (nemesis, nodes, mode) with its runs'
    outcomes, acknowledged writes and slowest recovery."""
    groups = {}
    for r in rows:
        groups.setdefault((str(r["nemesis"]), str(r["nodes"]), str(r["mode"])), []).append(r)
    md = ["| nemesis | nodes | mode | runs | passed | failed | undecided | acked | max recovered_ms |",
          "|" + "---|" * 9]
    for (nem, nodes, mode), rs in sorted(groups.items()):
        n = {k: sum(1 for r in rs if outcome(r) == k) for k in ("passed", "failed", "undecided")}
        recs = [int(r["recovered_ms"]) for r in rs if str(r["recovered_ms"]).isdigit()]
        slowest = str(max(recs)) if recs else "-"
        if any(r["recovered_ms"] == "never" for r in rs):
            slowest = "never"
        md.append(f"| {nem} | {nodes} | {mode} | {len(rs)} | {n['passed']} | {n['failed']} | "
                  f"{n['undecided']} | {sum(r['acked'] for r in rs)} | {slowest} |")
    return md


def summary(top):
    runs = sorted(d for d in glob.glob(os.path.join(top, "*"))
                  if os.path.exists(os.path.join(d, "run.json")))
    rows = [summary_row(d) for d in runs]
    cols = ["run", "seed", "nodes", "nemesis", "mode"] + CHECKERS + ["acked", "errors",
                                                                    "recovered_ms"]
    fails = [sum(1 for r in rows if r["verdicts"][i] == "FAIL") for i in range(len(CHECKERS))]
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    body = ["<tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for r in rows:
        vals = [r["run"], r["seed"], r["nodes"], r["nemesis"], r["mode"]] + r["verdicts"] + [
            r["acked"], r["errors"], r["recovered_ms"]]
        md.append("| " + " | ".join(str(v) for v in vals) + " |")
        cells = [f'<td><a href="{html.escape(r["run"])}/report.html">{html.escape(r["run"])}</a></td>']
        cells += [f"<td>{html.escape(str(v))}</td>" for v in vals[1:5]]
        cells += [f'<td class="{v}">{v}</td>' for v in r["verdicts"]]
        cells += [f"<td>{html.escape(str(v))}</td>" for v in vals[5 + len(CHECKERS):]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    total = f"{len(rows)} runs; FAIL per checker: " + ", ".join(
        f"{c} {n}" for c, n in zip(CHECKERS, fails))
    md.append("")
    md.append(total)
    md.append("")
    md += by_kind(rows)
    with open(os.path.join(top, "summary.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(top, "summary.html"), "w", encoding="utf-8") as f:
        f.write(page("backstay fault runs", f"<h1>backstay fault runs</h1><p>{total}</p>"
                     f"<table>{''.join(body)}</table>"))
    return rows


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--summary", action="store_true", help="DIR holds run directories")
    p.add_argument("--run-checks", metavar="BACKSTAY_CHECK",
                   help="run the checkers first, saving checks/*.txt")
    p.add_argument("dir")
    a = p.parse_args(argv)
    if not os.path.isdir(a.dir):
        p.error(f"{a.dir}: not a directory")
    try:
        if a.summary:
            summary(a.dir)
        else:
            run_report(a.dir, a.run_checks)
    except (InputError, OSError, KeyError, TypeError) as e:
        print(f"report.py: {a.dir}: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
