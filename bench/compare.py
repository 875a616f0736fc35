"""Two benchmark results side by side: ``python -m bench.compare --before B.json [...] --after A.json [...]``.

Per scenario and stage the medians of both sides and their ratio (after / before), from the results the
benchmark writes (``bench/results/*.json``), so "within noise" is a number, not an impression. Several files
on one side are pooled (their repetitions together): on a shared machine, alternating short runs of the two
versions lets both see the same noise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.driver import LABELS
from bench.report import TITLES, summarise

SCENARIOS = ("a", "b", "c", "c_seq")


def _ratio(before: float | None, after: float | None) -> str:
    return f"{after / before:.2f}" if before and after is not None else "-"


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result holding the repetitions of all (the first one's arguments and commit)."""
    merged = {**results[0], "reps": [rep for r in results for rep in r["reps"]]}
    merged["summary"] = summarise(merged)
    return merged


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    b, a = before.get("summary") or summarise(before), after.get("summary") or summarise(after)
    due = after["args"].get("due", 100_000)
    lines = [f"before: {before['args']['leads']:,} leads, commit {before.get('engine_version', {}).get('commit')}, "
             f"{b['repetitions']} repetition(s); after: {after['args']['leads']:,} leads, commit "
             f"{after.get('engine_version', {}).get('commit')}, {a['repetitions']} repetition(s); medians, "
             "seconds (rows)", "",
             "| scenario | stage | before | after | after / before |", "|---|---|---|---|---|"]
    for name in SCENARIOS:
        sb, sa = b.get(name), a.get(name)
        if not sb or not sa:
            continue
        title = TITLES[name].format(due=due)
        lines.append(f"| {title} | **total** | **{_s(sb['total_seconds'])}** | **{_s(sa['total_seconds'])}** | "
                     f"**{_ratio(sb['total_seconds'], sa['total_seconds'])}** |")
        for st in LABELS:
            xb, xa = sb["stages"].get(st, {}), sa["stages"].get(st, {})
            lines.append(f"| | {st} | {_s(xb.get('seconds'))} ({_n(xb.get('rows'))}) | "
                         f"{_s(xa.get('seconds'))} ({_n(xa.get('rows'))}) | "
                         f"{_ratio(xb.get('seconds'), xa.get('seconds'))} |")
        lines.append(f"| | steps executed | {_n(sb['steps_executed'])} | {_n(sa['steps_executed'])} | |")
    return "\n".join(lines)


def _load(paths: list[Path]) -> dict[str, Any]:
    return pooled([json.loads(f.read_text()) for f in paths])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, nargs="+", required=True)
    p.add_argument("--after", type=Path, nargs="+", required=True)
    args = p.parse_args(argv)
    print(compare(_load(args.before), _load(args.after)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
