"""``campaigns``: the project's own command (schema, embedded server, settings, demo data, stats)."""

from __future__ import annotations

import argparse
import sys

from include.campaigns.config import apply_airflow_env_defaults


def _db(args: argparse.Namespace) -> int:
    from include.campaigns import embedded

    if args.action == "stop":
        print("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL was not running")
        return 0
    from include.campaigns.db import get_engine, upgrade

    engine = get_engine()
    if args.action == "upgrade":
        applied = upgrade(engine)
        print(f"schema up to date ({', '.join(applied)} applied)" if applied else "schema up to date")
    elif args.action == "start":
        print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    elif args.action == "url":
        print(engine.url.render_as_string(hide_password=True))
    return 0


def _settings(args: argparse.Namespace) -> int:
    from include.campaigns.airflow_settings import load_airflow_settings

    counts = load_airflow_settings(args.file)
    print(f"airflow settings loaded: {counts}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from include.campaigns.db import get_engine, upgrade
    from include.campaigns.demo import generate_demo

    engine = get_engine()
    upgrade(engine)
    counts = generate_demo(engine, leads=args.leads, brokers=args.brokers, seed=args.seed, reset=not args.keep)
    print("demo data loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _stats(args: argparse.Namespace) -> int:
    from include.campaigns.db import get_engine
    from include.campaigns.report import format_stats_table

    print(format_stats_table(get_engine()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="campaigns", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the campaign database")
    db.add_argument("action", choices=["upgrade", "start", "stop", "url"])
    db.set_defaults(func=_db)

    settings = sub.add_parser("settings", help="load airflow_settings.yaml into Airflow")
    settings.add_argument("action", choices=["load"])
    settings.add_argument("--file", default=None)
    settings.set_defaults(func=_settings)

    demo = sub.add_parser("demo", help="deterministic demo data")
    demo.add_argument("action", choices=["load"])
    demo.add_argument("--leads", type=int, default=2000)
    demo.add_argument("--brokers", type=int, default=3)
    demo.add_argument("--seed", type=int, default=6)
    demo.add_argument("--keep", action="store_true", help="add to existing data instead of replacing it")
    demo.set_defaults(func=_demo)

    stats = sub.add_parser("stats", help="print the campaign statistics")
    stats.set_defaults(func=_stats)
    return parser


def main(argv: list[str] | None = None) -> int:
    apply_airflow_env_defaults()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
