"""``python -m include.campaigns.api``: broker grants for the admin API, and a standalone server.

    python -m include.campaigns.api grant admin 1 2     # Airflow user "admin" administers brokers 1 and 2
    python -m include.campaigns.api revoke admin 2      # ... no longer broker 2 (no broker id = all)
    python -m include.campaigns.api list
    python -m include.campaigns.api serve --port 8081   # the API alone at http://127.0.0.1:8081/api/v1
"""

from __future__ import annotations

import argparse
import sys

from include.campaigns.config import apply_airflow_env_defaults


def _engine():
    from include.campaigns.db import get_engine, upgrade

    engine = get_engine()
    upgrade(engine)
    return engine


def main(argv: list[str] | None = None) -> int:
    apply_airflow_env_defaults()
    parser = argparse.ArgumentParser(prog="python -m include.campaigns.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grant", help="let an Airflow user administer brokers through the API")
    g.add_argument("username")
    g.add_argument("broker_ids", nargs="+", type=int)
    r = sub.add_parser("revoke", help="take brokers (default: all) away from a user")
    r.add_argument("username")
    r.add_argument("broker_ids", nargs="*", type=int)
    sub.add_parser("list", help="who administers which broker")
    s = sub.add_parser("serve", help="run the API alone (uvicorn), validating tokens with the local Airflow config")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)

    from include.campaigns.api import service

    if args.command == "grant":
        with _engine().begin() as conn:
            n = service.grant(conn, args.username, args.broker_ids)
        print(f"{args.username}: {n} broker grant(s) added")
    elif args.command == "revoke":
        with _engine().begin() as conn:
            n = service.revoke(conn, args.username, args.broker_ids or None)
        print(f"{args.username}: {n} broker grant(s) removed")
    elif args.command == "list":
        from sqlalchemy import text

        with _engine().connect() as conn:
            rows = conn.execute(text("SELECT username, broker_id FROM broker_admins ORDER BY username, broker_id"))
            for username, broker_id in rows:
                print(f"{username}\t{broker_id}")
    elif args.command == "serve":
        import uvicorn

        from include.campaigns.api import create_app

        uvicorn.run(create_app(), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
