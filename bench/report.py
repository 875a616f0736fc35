"""The summary (medians over the repetitions) and the printed report of a benchmark's results."""

from __future__ import annotations

import statistics
from typing import Any

from bench.driver import KIND_OF, LABELS

# Issue 14's targets (issue 4's were 90 s, 20 s, 10,000 steps/s and 2 GiB).
TARGETS = {"a_seconds": 30.0, "b_ratio_to_floor": 3.0, "c_steps_per_second": 25_000.0, "peak_bytes": 1024 ** 3}
LOG_FLOOR_KINDS = ("execute", "finish")  # stages whose floor is the log copy; the others', the lead copy


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    reps = [r for r in results["reps"] if r.get("floor")]
    if not reps:
        reps = results["reps"]
    out: dict[str, Any] = {"repetitions": len(reps),
                           "changed_leads": _median([r.get("changed_leads") for r in reps])}
    floor_out = _median([r["floor"]["leads_out"]["seconds"] for r in reps if r.get("floor")])
    out["floor_leads_out_seconds"] = floor_out
    out["floor_leads_out_rows"] = _median([r["floor"]["leads_out"]["rows"] for r in reps if r.get("floor")])
    for name in ("a", "b", "c", "c_seq"):
        recs = [r["scenarios"][name] for r in reps if name in r["scenarios"]]
        if not recs:
            continue
        floor_in = _median([r["floor"].get(f"logs_in_{name}", {}).get("seconds") for r in reps if r.get("floor")])
        floor_in_rows = _median([r["floor"].get(f"logs_in_{name}", {}).get("rows") for r in reps if r.get("floor")])
        stages = {}
        for st in LABELS:
            sec = _median([x["seconds"].get(st) for x in recs])
            rows = _median([x["rows"].get(st) for x in recs])
            logs = KIND_OF[st] in LOG_FLOOR_KINDS
            base = floor_in if logs else floor_out
            stages[st] = {"seconds": sec, "rows": rows,
                          "peak_bytes": max((x.get("stage_peak_bytes", {}).get(st) or 0) for x in recs) or None,
                          "rows_per_second": (rows / sec) if rows and sec else None,
                          "floor": "logs_in" if logs else "leads_out",
                          "ratio_to_floor": (sec / base) if sec is not None and base else None}
        total = _median([x["total_seconds"] for x in recs])
        floor = (floor_out or 0) + (floor_in or 0)
        steps = _median([x["steps_executed"] for x in recs])
        out[name] = {
            "execution": recs[0]["execution"], "total_seconds": total, "stages": stages,
            "floor_seconds": floor, "floor_logs_in_rows": floor_in_rows,
            "ratio_to_floor": total / floor if floor else None,
            "steps_executed": steps, "log_rows": _median([x["log_rows"] for x in recs]),
            "execute_steps_per_second": steps / stages["execute"]["seconds"] if steps and stages["execute"]["seconds"] else None,
            "run_steps_per_second": steps / total if steps and total else None,
            "chunk_seconds_sum": _median([sum(x["chunk_seconds"]) for x in recs]),
            "chunks": _median([x["chunks"] for x in recs]),
            "peak_bytes": max(x["peak_bytes"] for x in recs),
            "worker_peak_bytes": max((x["worker_peak_bytes"] or 0) for x in recs) or None,
            "worker_peak_sum_bytes": max((x["worker_peak_sum_bytes"] or 0) for x in recs) or None,
            "tree_peak_bytes": max((x.get("tree_peak_bytes") or 0) for x in recs) or None,
            "child_peak_bytes": max((x.get("child_peak_bytes") or 0) for x in recs) or None,
        }
    t = {}
    if "a" in out:
        t["a_total_seconds <= 30"] = out["a"]["total_seconds"] <= TARGETS["a_seconds"]
    if "b" in out and out["b"]["ratio_to_floor"]:
        t["b_ratio_to_floor <= 3"] = out["b"]["ratio_to_floor"] <= TARGETS["b_ratio_to_floor"]
    if "c" in out and out["c"]["execute_steps_per_second"]:
        t["c_execute_steps_per_second >= 25000"] = out["c"]["execute_steps_per_second"] >= TARGETS["c_steps_per_second"]
    peaks = [max(out[n]["peak_bytes"], out[n]["worker_peak_bytes"] or 0, out[n]["child_peak_bytes"] or 0)
             for n in ("a", "b", "c") if n in out]
    if peaks:
        t["peak_memory <= 1 GiB per process"] = max(peaks) <= TARGETS["peak_bytes"]
    out["targets_met"] = t
    return out


def _fmt_s(x):
    return "-" if x is None else f"{x:,.2f}"


def _fmt_n(x):
    return "-" if x is None else f"{x:,.0f}"


def _fmt_mib(x):
    return "-" if not x else f"{x / 2 ** 20:,.0f} MiB"


TITLES = {"a": "(a) first full run", "b": "(b) steady-state hour, 5 % changed", "c": "(c) {due:,} steps made due, parallel",
          "c_seq": "(c) again, chunks sequential"}


def report(results: dict[str, Any]) -> str:
    s = results.get("summary") or summarise(results)
    m, args = results.get("machine", {}), results["args"]
    lines = [
        "",
        f"campaign engine benchmark - {args['leads']:,} leads, {args['brokers']} brokers, {args['campaigns']} "
        f"campaigns, seed {args['seed']}, {args.get('invalid_share', 0.005):.1%} of the leads malformed, "
        f"campaign options {args.get('options', 'off')}, median of {s['repetitions']} repetition(s)"
        + ("" if results.get("complete") else "  [INCOMPLETE]"),
        f"machine: {m.get('nproc')} cores ({m.get('cpu')}), {(m.get('memory_bytes') or 0) / 2 ** 30:.1f} GiB RAM, "
        f"PostgreSQL {m.get('postgresql')} {m.get('postgresql_kind')}, load average at start "
        f"{' '.join(f'{x:.2f}' for x in m.get('load_avg_at_start') or ())}",
        f"engine: commit {results.get('engine_version', {}).get('commit', '?')}"
        + (f" + local changes to {', '.join(results['engine_version']['modified_engine_files'])}"
           if results.get("engine_version", {}).get("modified_engine_files") else "")
        + f"; {args['workers']} {args['executor']} workers, chunks: max {args['max_chunks']}, "
          f"min size {args['min_chunk_size']}",
        f"(b): {_fmt_n(s.get('changed_leads'))} valid leads changed before it; "
        f"floor: COPY leads TO STDOUT {_fmt_n(s.get('floor_leads_out_rows'))} rows in "
        f"{_fmt_s(s.get('floor_leads_out_seconds'))} s",
    ]
    for name in ("a", "b", "c", "c_seq"):
        sc = s.get(name)
        if not sc:
            continue
        lines += [
            "",
            f"{TITLES[name].format(due=args['due'])}: {_fmt_s(sc['total_seconds'])} s  (floor {_fmt_s(sc['floor_seconds'])} s = leads out + "
            f"{_fmt_n(sc['floor_logs_in_rows'])} log rows in; x{_fmt_s(sc['ratio_to_floor'])})  "
            f"peak {_fmt_mib(sc['peak_bytes'])}"
            + (f", executor workers {_fmt_mib(sc['worker_peak_bytes'])} each at most" if sc["worker_peak_bytes"] else "")
            + (f"; any child {_fmt_mib(sc.get('child_peak_bytes'))} at most, whole process tree "
               f"{_fmt_mib(sc.get('tree_peak_bytes'))} (sampled)" if sc.get("tree_peak_bytes") else ""),
            f"  {'stage':10s} {'seconds':>9s} {'rows':>11s} {'rows/s':>11s} {'peak':>10s}  {'x floor':>9s}",
        ]
        for st in LABELS:
            x = sc["stages"][st]
            ratio = "-" if x["ratio_to_floor"] is None else f"{x['ratio_to_floor']:.2f} ({x['floor'].replace('_', ' ')})"
            lines.append(f"  {st:10s} {_fmt_s(x['seconds']):>9s} {_fmt_n(x['rows']):>11s} "
                         f"{_fmt_n(x['rows_per_second']):>11s} {_fmt_mib(x.get('peak_bytes')):>10s}  {ratio}")
        lines.append(f"  execute: {sc['execution']}, {_fmt_n(sc['chunks'])} chunks, {_fmt_n(sc['steps_executed'])} steps"
                     f" ({_fmt_n(sc['log_rows'])} log rows), {_fmt_n(sc['execute_steps_per_second'])} steps/s in the "
                     f"execute stage, sum of chunk times {_fmt_s(sc['chunk_seconds_sum'])} s")
    for err in results.get("errors", []):
        lines.append(f"FAILED: scenario {err['scenario']}, stage {err['stage']}: {err['error'][:300]}")
    lines += ["", "targets (issue 14): " + ", ".join(f"{k}: {'met' if v else 'NOT met'}"
                                                   for k, v in s.get("targets_met", {}).items())]
    return "\n".join(lines)
