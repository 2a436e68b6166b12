#!/usr/bin/env python3
"""Summarises bench/run.sh's results.jsonl as Markdown: every run, the
goals as ratios siaga/Alertmanager (per round, so each ratio compares runs
made minutes apart on the same machine), peak RSS and memory per alert."""

import json
import statistics
import sys

GOAL_DURABLE_RATIO = 1.5  # siaga one event/request vs Alertmanager, in memory
GOAL_WEBHOOK_RATIO = 1.0  # siaga Alertmanager webhooks of 64 vs Alertmanager
GOAL_EVENTS_PER_SYNC = 5.0  # more than this
GOAL_P99_MS = 10.0  # at half the peak rate
GOAL_MEMORY_RATIO = 0.5  # at most


def load(path):
    runs, peaks, memory = [], [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            kind = row.get("kind")
            if kind == "peak_rss":
                peaks.append(row)
            elif kind == "memory":
                memory.append(row)
            else:
                runs.append(row)
    return runs, peaks, memory


def fmt(value, places=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{places}f}"
    return f"{value:,}"


def events_per_sync(run):
    syncs = run.get("syncs")
    if not syncs:
        return None
    # fsyncs are counted over the warm-up too; so are these events.
    return run.get("events_ok_with_warmup", run["events_ok"]) / syncs


def cpu(run, *keys):
    c = run.get("cpu")
    if not c:
        return "–"
    return f"{sum(c.get(k, 0) for k in keys):.2f}"


def verdict(ok):
    return "met" if ok else "**missed**"


def main(path):
    runs, peaks, memory = load(path)
    out = []
    p = out.append

    p("## Load runs\n")
    p("| round | server | run | mode | conns | events/s | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | events/fsync | CPU server+pg | CPU generator | CPU other | disk MB written | disk flushes |")
    p("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        mode = r["mode"]
        if mode == "open":
            mode = f"open @ {r['rate_requests_per_s']:,.0f} req/s"
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        if r.get("unsent"):
            errors += f", unsent: {r['unsent']}"
        p(
            f"| {r['round']} | {r['server']} | {r['label']} | {mode} | {r['connections']} | "
            f"{fmt(r['events_per_s'], 0)} | {fmt(r['requests_per_s'], 0)} | {r['p50_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.2f} | {errors} | "
            f"{fmt(events_per_sync(r))} | {cpu(r, 'server_cores', 'postgres_cores')} | "
            f"{cpu(r, 'generator_cores')} | {cpu(r, 'other_cores')} | "
            f"{fmt((r.get('cpu') or {}).get('disk_written_mb'))} | {fmt((r.get('cpu') or {}).get('disk_flushes'))} |"
        )

    def find(server, label, rnd):
        for r in runs:
            if r["server"] == server and r["label"] == label and r["round"] == rnd:
                return r
        return None

    rounds = sorted({r["round"] for r in runs if r["round"] > 0})  # round 0: the connection sweep
    p("\n## Goals (ratios within each round)\n")
    p("| goal | siaga | " + " | ".join(f"round {n}" for n in rounds) + " | mean | goal | verdict |")
    p("|---|---|" + "---:|" * len(rounds) + "---:|---|---|")

    def ratio_row(title, server, label, ref_label, goal, ge=True):
        values = []
        for n in rounds:
            a, b = find(server, label, n), find("alertmanager", ref_label, n)
            values.append(a["events_per_s"] / b["events_per_s"] if a and b and b["events_per_s"] else None)
        present = [v for v in values if v is not None]
        mean = statistics.mean(present) if present else None
        ok = mean is not None and (mean >= goal if ge else mean <= goal)
        cells = " | ".join(f"{v:.2f}×" if v is not None else "–" for v in values)
        p(f"| {title} | {server} | {cells} | {fmt(mean, 2)}× | ≥ {goal}× | {verdict(ok)} |")

    for server in ("siaga-sqlite", "siaga-pg"):
        ratio_row("1 event/request, durable, vs AM 1/request", server, "pd-1", "am-1", GOAL_DURABLE_RATIO)
    for server in ("siaga-sqlite", "siaga-pg"):
        ratio_row("AM webhook of 64 vs AM 64/request", server, "am-64", "am-64", GOAL_WEBHOOK_RATIO)
    for server in ("siaga-sqlite", "siaga-pg"):
        ratio_row("(info) AM webhook of 64 vs AM 1/request", server, "am-64", "am-1", GOAL_WEBHOOK_RATIO)

    for server in ("siaga-sqlite", "siaga-pg"):
        for label in ("pd-1", "am-64"):
            values = [events_per_sync(find(server, label, n)) if find(server, label, n) else None for n in rounds]
            present = [v for v in values if v is not None]
            mean = statistics.mean(present) if present else None
            cells = " | ".join(fmt(v) for v in values)
            title = "events per fsync, closed loop, " + ("1 event/request" if label == "pd-1" else "64/request")
            ok = mean is not None and mean > GOAL_EVENTS_PER_SYNC
            p(f"| {title} | {server} | {cells} | {fmt(mean)} | > {GOAL_EVENTS_PER_SYNC:g} | {verdict(ok)} |")

    for server, label in (("siaga-sqlite", "pd-1-half"), ("siaga-pg", "pd-1-half"), ("alertmanager", "am-1-half")):
        values = [find(server, label, n) for n in rounds]
        p99s = [v["p99_ms"] for v in values if v]
        worst = max(p99s) if p99s else None
        cells = " | ".join(
            f"{v['p99_ms']:.2f} ms @ {v['rate_requests_per_s']:,.0f}/s" if v else "–" for v in values
        )
        ok = worst is not None and worst <= GOAL_P99_MS
        p(f"| p99 at half its peak rate (worst round) | {server} | {cells} | {fmt(worst, 2)} ms | ≤ {GOAL_P99_MS:g} ms | {verdict(ok)} |")

    am_mem = next((m for m in memory if m["server"] == "alertmanager"), None)
    for m in memory:
        if m["server"] == "alertmanager" or not am_mem:
            continue
        ratio = m["bytes_per_alert"] / am_mem["bytes_per_alert"] if am_mem["bytes_per_alert"] > 0 else None
        ok = ratio is not None and ratio <= GOAL_MEMORY_RATIO
        p(
            f"| memory per active alert vs AM | {m['server']} | {m['bytes_per_alert']:,} B vs {am_mem['bytes_per_alert']:,} B"
            + " |" * (len(rounds) - 1)
            + f" | {fmt(ratio, 2)}× | ≤ {GOAL_MEMORY_RATIO}× | {verdict(ok)} |"
        )

    # Round 0: one event per request at each BENCH_SWEEP connection count,
    # compared with Alertmanager at the same count (the goal's ratio, away
    # from the 16 connections the goal row uses).
    sweep = sorted({r["connections"] for r in runs if r["round"] == 0})
    if sweep:
        p("\n## Connection sweep, 1 event/request (round 0)\n")
        p("| connections | alertmanager | siaga-sqlite | siaga-pg |")
        p("|---:|---:|---:|---:|")
        for conns in sweep:
            label = f"pd-1-c{conns}"
            am = find("alertmanager", f"am-1-c{conns}", 0)
            cells = []
            for server in ("siaga-sqlite", "siaga-pg"):
                run = find(server, label, 0)
                if not run:
                    cells.append("–")
                elif am and am["events_per_s"]:
                    cells.append(f"{fmt(run['events_per_s'], 0)}/s ({run['events_per_s'] / am['events_per_s']:.2f}×)")
                else:
                    cells.append(f"{fmt(run['events_per_s'], 0)}/s")
            am_cell = f"{fmt(am['events_per_s'], 0)}/s" if am else "–"
            p(f"| {conns} | {am_cell} | {cells[0]} | {cells[1]} |")

    if peaks:
        p("\n## Peak RSS over the load runs (VmHWM)\n")
        p("| server | peak RSS | RSS at the end |")
        p("|---|---:|---:|")
        for row in peaks:
            p(f"| {row['server']} | {row['vmhwm_kb'] / 1024:,.1f} MiB | {row['vmrss_kb'] / 1024:,.1f} MiB |")

    if memory:
        p("\n## Memory per active alert (fresh servers)\n")
        p("| server | alerts loaded | load rate (events/s) | errors | RSS before | RSS after | bytes/alert | stored |")
        p("|---|---:|---:|---:|---:|---:|---:|---|")
        for m in memory:
            p(
                f"| {m['server']} | {m['events_ok']:,} | {m['load_events_per_s']:,.0f} | {m['errors_total']} | "
                f"{m['rss_before_kb'] / 1024:,.1f} MiB | {m['rss_after_kb'] / 1024:,.1f} MiB | "
                f"{m['bytes_per_alert']:,} | {json.dumps(m.get('stored'))} |"
            )
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
