#!/usr/bin/env python3
"""bench_charts.py — the charts of docs/BENCHMARKS.md, drawn from one `make bench` run's own figures.

Usage: bench_charts.py ROWS_TSV GROWTH_LOG OUT_DIR
Writes OUT_DIR/bench-planner.svg (planner time against partitions, log-log, one line per
strategy from bench_growth, Kafka's assignors beside them from the assignors section),
OUT_DIR/bench-consume.svg (messages/s of every reader, on both clocks, per cluster) and
OUT_DIR/bench-handover.svg (the gaps of every partition while a group grows from 10 to 15,
one timeline per case, from handover-timeline.tsv beside ROWS_TSV, which the handover
section writes from the rounds it shows). A chart
whose figures are missing from the run is not written (and an old one is removed), so no
image outlives the run that drew it. Plain SVG, no library.
"""
import math
import os
import re
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
TITLE_FONT = 'font-family="system-ui, sans-serif" font-size="14"'


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rows(path):
    out = []
    for line in open(path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if len(f) >= 7:
            out.append(f)
    return out


def num_unit(text):
    """'1.13M msg/s' -> 1.13e6; '299.5 ms, ...' -> 299.5; None when no number leads."""
    m = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*([kM]?)", text)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6}[m.group(2)]


def count(text):
    """'1k' -> 1000, '100k' -> 100000, '1M' -> 1e6."""
    m = re.fullmatch(r"([0-9]+)([kM]?)", text)
    return int(m.group(1)) * {"": 1, "k": 1000, "M": 1000000}[m.group(2)] if m else None


def planner_series(rows_, growth_log):
    series = {}
    if os.path.exists(growth_log):
        for line in open(growth_log, encoding="utf-8"):
            kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
            if "point" in kv and kv.get("axis") == "P" and kv.get("tasks") == "1000":
                series.setdefault("kplane " + kv["point"].replace("_", " "), []).append(
                    (int(kv["partitions"]), float(kv["ms"])))
    for sec, fig, _value, base, *_ in rows_:
        m = re.fullmatch(r"balanced vs (CooperativeSticky|Uniform \(KIP-848\)), (\w+) × 1k", fig)
        if sec == "assignors" and m and count(m.group(2)):
            v = num_unit(base)
            if v:
                series.setdefault("Kafka " + m.group(1), []).append((count(m.group(2)), v))
    return {k: sorted(v) for k, v in series.items() if len(v) >= 2}


def line_chart(series, title, xlabel, ylabel):
    w, h, l, r, t, b = 720, 420, 70, 200, 40, 50
    xs = [x for s in series.values() for x, _ in s]
    ys = [y for s in series.values() for _, y in s if y > 0]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def px(x):
        return l + (math.log10(x) - x0) / (x1 - x0) * (w - l - r)

    def py(y):
        return h - b - (math.log10(y) - y0) / (y1 - y0) * (h - t - b)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{esc(title)}">',
           f'<rect width="{w}" height="{h}" fill="#fff"/>',
           f'<text x="{w / 2}" y="22" text-anchor="middle" {TITLE_FONT}>{esc(title)}</text>']
    for e in range(x0, x1 + 1):
        out.append(f'<line x1="{px(10 ** e):.1f}" y1="{t}" x2="{px(10 ** e):.1f}" y2="{h - b}" stroke="#eee"/>')
        out.append(f'<text x="{px(10 ** e):.1f}" y="{h - b + 16}" text-anchor="middle" {FONT}>1e{e}</text>')
    for e in range(y0, y1 + 1):
        out.append(f'<line x1="{l}" y1="{py(10 ** e):.1f}" x2="{w - r}" y2="{py(10 ** e):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{l - 6}" y="{py(10 ** e) + 4:.1f}" text-anchor="end" {FONT}>{10.0 ** e:g}</text>')
    out.append(f'<text x="{(l + w - r) / 2}" y="{h - 12}" text-anchor="middle" {FONT}>{esc(xlabel)}</text>')
    out.append(f'<text x="16" y="{(t + h - b) / 2}" text-anchor="middle" {FONT} transform="rotate(-90 16 {(t + h - b) / 2})">{esc(ylabel)}</text>')
    for i, (name, pts) in enumerate(sorted(series.items())):
        c = COLORS[i % len(COLORS)]
        dash = ' stroke-dasharray="6 4"' if name.startswith("Kafka") else ""
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts if y > 0)
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"{dash}/>')
        for x, y in pts:
            if y > 0:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"><title>{esc(name)}: {x} partitions, {y:g} ms</title></circle>')
        ly = t + 10 + 18 * i
        out.append(f'<line x1="{w - r + 12}" y1="{ly}" x2="{w - r + 36}" y2="{ly}" stroke="{c}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{w - r + 42}" y="{ly + 4}" {FONT}>{esc(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def consume_bars(rows_):
    """[(cluster, clock, reader, msgs_per_s)] from the consume section's rows."""
    bars, seen = [], set()
    for sec, fig, value, base, *_ in rows_:
        if sec != "consume" or "msg/s" not in value:
            continue
        where = fig.split(":")[0]
        clock = "from the first message" if "first message" in fig else "wall"
        for reader, text in (("kplane group", value), (re.sub(r"\s*[0-9.]+[kM]? msg/s$", "", base), base)):
            key = (where, clock, reader)
            v = num_unit(text.split(" msg/s")[0].split()[-1]) if "msg/s" in text else None
            if v and key not in seen:
                seen.add(key)
                bars.append((where, clock, reader, v))
    return bars


def bar_chart(bars, title):
    w, l, r, bh, gap = 760, 330, 90, 18, 6
    groups = []
    for where, clock, reader, v in bars:
        if not groups or groups[-1][0] != (where, clock):
            groups.append(((where, clock), []))
        groups[-1][1].append((reader, v))
    h = 40 + sum(24 + len(g[1]) * (bh + gap) for g in groups) + 10
    vmax = max(v for *_, v in bars)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{esc(title)}">',
           f'<rect width="{w}" height="{h}" fill="#fff"/>',
           f'<text x="{w / 2}" y="22" text-anchor="middle" {TITLE_FONT}>{esc(title)}</text>']
    y = 40
    for (where, clock), items in groups:
        out.append(f'<text x="8" y="{y + 14}" {FONT} font-weight="bold">{esc(where)}, {esc(clock)}</text>')
        y += 24
        for reader, v in items:
            bw = v / vmax * (w - l - r)
            c = COLORS[0] if reader.startswith("kplane") else COLORS[7]
            out.append(f'<text x="{l - 8}" y="{y + bh - 5}" text-anchor="end" {FONT}>{esc(reader)}</text>')
            out.append(f'<rect x="{l}" y="{y}" width="{bw:.1f}" height="{bh}" fill="{c}"><title>{esc(reader)}: {v:,.0f} msg/s</title></rect>')
            out.append(f'<text x="{l + bw + 6:.1f}" y="{y + bh - 5}" {FONT}>{v / 1e6:.2f}M/s</text>')
            y += bh + gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


HANDOVER_CASES = [("kplane", "kplane live plan change (apply: true)"),
                  ("range", "Kafka classic, eager RangeAssignor"),
                  ("cooperative", "Kafka classic, CooperativeStickyAssignor"),
                  ("consumer", "Kafka KIP-848 consumer protocol")]


def handover_timeline(path):
    """{case: {"until": ms, "gaps": [(partition, moved, start_ms, end_ms)]}} from the harness's lines
    'window CASE BASE_FROM UNTIL END' and 'gap CASE PARTITION MOVED START END' (ms from the change)."""
    cases = {}
    if not os.path.exists(path):
        return cases
    for line in open(path, encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if f[0] == "window" and len(f) >= 5:
            cases.setdefault(f[1], {"gaps": []})["until"] = float(f[3])
        elif f[0] == "gap" and len(f) >= 6:
            cases.setdefault(f[1], {"gaps": []})["gaps"].append((int(f[2]), f[3] == "1", float(f[4]), float(f[5])))
    return {k: v for k, v in cases.items() if "until" in v}


def handover_chart(cases, partitions=30):
    """One panel per case on a shared time axis (seconds from the change): a grey line per partition
    while the change lasts, a bar for each gap that counts as a stop, longer than the steady window's
    99.9th percentile gap (red: the partition moved to another member, orange: it did not)."""
    w, l, r, row, head, gap = 760, 60, 20, 4, 34, 16
    order = [(k, t) for k, t in HANDOVER_CASES if k in cases]
    x_min = -0.2
    x_max = max(max(c["until"] for c in cases.values()), max((g[3] for c in cases.values() for g in c["gaps"]), default=0))
    x_max = x_max / 1000 + 0.3
    ph = partitions * row
    h = 40 + len(order) * (head + ph + gap) + 46
    title = "Handover: gaps per partition while the group grows from 10 to 15 members"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{esc(title)}">',
           f'<rect width="{w}" height="{h}" fill="#fff"/>',
           f'<text x="{w / 2}" y="22" text-anchor="middle" {TITLE_FONT}>{esc(title)}</text>']

    def px(ms):
        return l + (ms / 1000 - x_min) / (x_max - x_min) * (w - l - r)

    y = 40
    step = 0.5 if x_max <= 4 else 1 if x_max <= 10 else 2
    for key, label in order:
        c = cases[key]
        stopped = {g[0] for g in c["gaps"]}
        longest = max((g[3] - g[2] for g in c["gaps"]), default=0)
        note = f"{len(stopped)} of {partitions} stopped, longest gap {longest:.0f} ms" if stopped else \
            f"no partition stopped; settled {c['until']:.0f} ms after the change"
        out.append(f'<text x="{l}" y="{y + 14}" {FONT} font-weight="bold">{esc(label)}</text>')
        out.append(f'<text x="{w - r}" y="{y + 14}" text-anchor="end" {FONT}>{esc(note)}</text>')
        top = y + head - 12
        out.append(f'<rect x="{l}" y="{top}" width="{w - l - r}" height="{ph}" fill="#fafafa" stroke="#ddd"/>')
        t = 0.0
        while t <= x_max:
            out.append(f'<line x1="{px(t * 1000):.1f}" y1="{top}" x2="{px(t * 1000):.1f}" y2="{top + ph}" stroke="#eee"/>')
            t += step
        for p in range(partitions):
            py = top + p * row + row / 2
            out.append(f'<line x1="{px(0):.1f}" y1="{py:.1f}" x2="{px(c["until"]):.1f}" y2="{py:.1f}" stroke="#ccc" stroke-width="1"/>')
        for p, moved, s0, s1 in c["gaps"]:
            x0, x1 = px(max(s0, x_min * 1000)), px(s1)
            col = COLORS[1] if moved else COLORS[4]
            out.append(f'<rect x="{x0:.1f}" y="{top + p * row:.1f}" width="{max(x1 - x0, 1.5):.1f}" height="{row - 0.5}" fill="{col}">'
                       f'<title>partition {p}{" (moved)" if moved else ""}: no message for {s1 - s0:.0f} ms</title></rect>')
        out.append(f'<line x1="{px(0):.1f}" y1="{top - 4}" x2="{px(0):.1f}" y2="{top + ph + 4}" stroke="#000"/>')
        out.append(f'<line x1="{px(c["until"]):.1f}" y1="{top - 4}" x2="{px(c["until"]):.1f}" y2="{top + ph + 4}" stroke="#000" stroke-dasharray="3 3"/>')
        out.append(f'<text x="{l - 6}" y="{top + 8}" text-anchor="end" {FONT}>p0</text>')
        out.append(f'<text x="{l - 6}" y="{top + ph}" text-anchor="end" {FONT}>p{partitions - 1}</text>')
        y += head + ph + gap
    t = 0.0
    while t <= x_max:
        out.append(f'<text x="{px(t * 1000):.1f}" y="{y + 2}" text-anchor="middle" {FONT}>{t:g} s</text>')
        t += step
    out.append(f'<text x="{l}" y="{y + 22}" {FONT}>seconds from the change (solid line) to the group settled (dashed)</text>')
    out.append(f'<text x="{l}" y="{y + 38}" {FONT}>bars: no message for longer than the steady p99.9 gap; '
               f'<tspan fill="{COLORS[1]}">red: moved to another member</tspan>, '
               f'<tspan fill="{COLORS[4]}">orange: did not move</tspan></text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(path, text):
    if text is None:
        if os.path.exists(path):
            os.remove(path)
        return None
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    rows_, growth, out = rows(sys.argv[1]), sys.argv[2], sys.argv[3]
    series = planner_series(rows_, growth)
    planner = line_chart(series, "Planner: time to plan against partitions (1,000 tasks)", "partitions",
                         "ms (log)") if series else None
    bars = consume_bars(rows_)
    consume = bar_chart(bars, "Consumption: messages/s of each reader, same data") if bars else None
    cases = handover_timeline(os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "handover-timeline.tsv"))
    handover = handover_chart(cases) if cases else None
    for name, text in (("bench-planner.svg", planner), ("bench-consume.svg", consume), ("bench-handover.svg", handover)):
        p = write(os.path.join(out, name), text)
        print(f"bench_charts: {'wrote ' + p if p else name + ': no figures in this run'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
