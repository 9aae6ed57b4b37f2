"""Command line: ``serve`` (the default) and provisioning of agents and tokens."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys

from agent_app.protocol import Role
from chat_server.admin import Admin, AdminError
from chat_server.app import run_server
from chat_server.calendar import zone_problem
from chat_server.config import Config, describe, load_config
from chat_server.storage import describe as describe_storage
from chat_server.storage import open_storage
from chat_server.storage.errors import STORAGE_ERRORS

EPILOG = """configuration (defaults < --config TOML file [server] table < environment < flags):
{settings}

examples:
  python -m chat_server serve --port 0 --db /var/lib/sdr/chat.sqlite3
  SDR_SERVER_DATABASE_URL=postgresql://sdr@db/sdr python -m chat_server serve --storage postgres
  python -m chat_server agents add --email ana@example.com --name "Ana Ruiz" --territory US-West --role sdr \
      --timezone America/Los_Angeles
  python -m chat_server agents set-timezone ana@example.com America/Denver
  python -m chat_server agents set-capacity ana@example.com 3
  python -m chat_server tokens revoke --email ana@example.com
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chat_server",
        description="SDR Agent Desk chat server",
        epilog=EPILOG.format(settings=describe()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="TOML file (env SDR_SERVER_CONFIG)")
    parser.add_argument("--db", dest="db_path", help="SQLite database path (env SDR_SERVER_DB_PATH)")
    parser.add_argument("--storage", choices=["sqlite", "postgres"], help="env SDR_SERVER_STORAGE")
    parser.add_argument("--database-url", help="PostgreSQL conninfo/URL (env SDR_SERVER_DATABASE_URL)")
    # --db/--config are accepted before or after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML file (env SDR_SERVER_CONFIG)")
    common.add_argument("--db", dest="db_path", default=argparse.SUPPRESS, help="SQLite database path")
    common.add_argument("--storage", choices=["sqlite", "postgres"], default=argparse.SUPPRESS)
    common.add_argument("--database-url", default=argparse.SUPPRESS, help="PostgreSQL conninfo/URL")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser(
        "serve",
        help="run the server (the default)",
        parents=[common],
        epilog=EPILOG.format(settings=describe()),  # `serve --help` lists every setting too
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host")
    serve.add_argument("--port", type=int, help="0 picks a free port; the URL is printed")
    serve.add_argument("--allowed-origins", help="comma-separated origins allowed on /visitor ('*' = any)")
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--log-level")

    agents = sub.add_parser("agents", help="provision agents", parents=[common]).add_subparsers(
        dest="action", required=True
    )
    add = agents.add_parser("add", help="create an agent", parents=[common])
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--territory", default="")
    add.add_argument(
        "--timezone",
        default="",
        help="IANA zone, e.g. America/Chicago (default: the territory's when it has one zone, e.g. US-West)",
    )
    add.add_argument("--role", choices=[r.value for r in Role], default="sdr")
    add.add_argument("--password", help="omit to be prompted (keeps it out of shell history)")
    agents.add_parser("list", help="list agents", parents=[common])
    for name, text in (("disable", "disable (and sign out everywhere)"), ("enable", "enable again")):
        agents.add_parser(name, help=text, parents=[common]).add_argument("email")
    zone = agents.add_parser("set-timezone", help="change an agent's time zone", parents=[common])
    zone.add_argument("email")
    zone.add_argument("timezone", help="IANA zone, e.g. Europe/Berlin")
    capacity = agents.add_parser(
        "set-capacity",
        help="at most N open chats routed to the agent at once (0 = no limit)",
        parents=[common],
    )
    capacity.add_argument("email")
    capacity.add_argument("max_chats", type=int, metavar="N")
    role = agents.add_parser("set-role", help="change an agent's role", parents=[common])
    role.add_argument("email")
    role.add_argument("role", choices=[r.value for r in Role])
    reset = agents.add_parser(
        "reset-password", help="new password; revokes the agent's tokens", parents=[common]
    )
    reset.add_argument("email")
    reset.add_argument("--password", help="omit to be prompted")

    report = sub.add_parser("report", help="reports", parents=[common]).add_subparsers(
        dest="report", required=True
    )
    sla = report.add_parser(
        "sla", help="first-response times, breaches and meeting offers per SDR", parents=[common]
    )
    sla.add_argument("--days", type=float, default=None, help="only chats routed in the last N days")
    sla.add_argument("--json", action="store_true", help="JSON instead of a table")
    tokens = sub.add_parser("tokens", help="sign-in tokens", parents=[common]).add_subparsers(
        dest="action", required=True
    )
    revoke = tokens.add_parser("revoke", help="revoke one token, or all tokens of an agent", parents=[common])
    who = revoke.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="every token of this agent")
    who.add_argument("--token", help="this one token")
    return parser


def _password(given: str | None) -> str:
    if given:
        return given
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise AdminError("the passwords differ")
    return first


def _admin_command(args: argparse.Namespace, config: Config) -> None:
    storage = open_storage(config)
    admin = Admin(storage, params=config.scrypt_params)
    try:
        if args.command == "agents":
            if args.action == "add":
                if args.timezone and (problem := zone_problem(args.timezone)):
                    raise AdminError(problem)  # before asking for the password
                agent = admin.add_agent(
                    args.email, args.name, _password(args.password), args.territory, args.role, args.timezone
                )
                zone = agent.timezone or "- (server default_timezone)"
                where = f"territory {agent.territory or '-'}, time zone {zone}"
                print(f"added {agent.email} ({agent.role}, {where}) id {agent.id}")
            elif args.action == "list":
                for a in admin.list_agents():
                    state = "disabled" if a.disabled else a.presence.value
                    limit = f"max {a.max_chats}" if a.max_chats else "no limit"
                    print(
                        f"{a.email:<32} {a.name:<24} {a.role.value:<8} {a.territory:<12} "
                        f"{a.timezone or '-':<22} {limit:<9} {state}  {a.id}"
                    )
            elif args.action in ("disable", "enable"):
                admin.set_disabled(args.email, args.action == "disable")
                print(f"{args.email} {args.action}d")
            elif args.action == "set-timezone":
                agent = admin.set_timezone(args.email, args.timezone)
                print(f"{agent.email} is now in {agent.timezone or '- (server default_timezone)'}")
            elif args.action == "set-capacity":
                agent = admin.set_capacity(args.email, args.max_chats)
                limit = f"at most {agent.max_chats} open chats" if agent.max_chats else "no chat limit"
                print(f"{agent.email} now has {limit}")
            elif args.action == "set-role":
                admin.set_role(args.email, args.role)
                print(f"{args.email} is now {args.role}")
            elif args.action == "reset-password":
                revoked = admin.reset_password(args.email, _password(args.password))
                print(f"password changed; {revoked} token(s) revoked")
        elif args.command == "tokens":
            if args.email:
                print(f"{admin.revoke_tokens(args.email)} token(s) revoked")
            elif admin.revoke_token(args.token):
                print("revoked")
            else:
                raise AdminError("no such active token (unknown, already revoked or expired)")
    finally:
        storage.close()


async def _serve(config: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with run_server(config) as server:
        print(f"chat server listening on {server.url} (paths /agent, /visitor, /healthz)")
        sys.stdout.flush()
        await stop.wait()


def _token_values(argv: list[str]) -> list[str]:
    """``--token -abc`` -> ``--token=-abc``: tokens are URL-safe base64 and may start with "-", which
    argparse would take for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--token" and i + 1 < len(argv):
            out.append(f"--token={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _storage_problem(exc: Exception, config: Config) -> str:
    if config.storage == "postgres":  # libpq's messages name host and user, never the password
        return (
            f"cannot use the database {describe_storage(config)}: {' '.join(str(exc).split())}. Check that "
            "the server runs and that this user may connect (set --database-url or SDR_SERVER_DATABASE_URL)"
        )
    return (
        f"cannot use the database {config.db_path!r}: {exc}. Check that the directory exists and that this "
        "user may write to it (set --db or SDR_SERVER_DB_PATH)"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_token_values(sys.argv[1:] if argv is None else argv))
    overrides = {"db_path": args.db_path, "storage": args.storage, "database_url": args.database_url}
    if args.command in (None, "serve"):
        for name in ("host", "port", "allowed_origins", "tls_cert", "tls_key", "log_level"):
            overrides[name] = getattr(args, name, None)
    try:
        config = load_config(args.config, overrides=overrides)
    except (OSError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command in (None, "serve"):
        try:
            asyncio.run(_serve(config))
        except STORAGE_ERRORS as exc:  # a missing or read-only data directory: one line, no traceback
            print(f"cannot start the server: {_storage_problem(exc, config)}", file=sys.stderr)
            return 1
        except OSError as exc:  # port in use, unreadable TLS certificate or key: one line, no traceback
            print(f"cannot start the server: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        if args.command == "report":
            from chat_server.sla import report_main

            if config.storage == "sqlite":
                print(report_main(config.db_path, args.days, args.json))
                return 0
            storage = open_storage(config)
            try:
                print(report_main(config.db_path, args.days, args.json, conn=storage.conn))
            finally:
                storage.close()
            return 0
        _admin_command(args, config)
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except STORAGE_ERRORS as exc:
        print(f"error: {_storage_problem(exc, config)}", file=sys.stderr)
        return 1
    return 0
