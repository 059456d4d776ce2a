"""``python -m voicecore_http``: serve the API (also the ``voicecore-http`` script), or an operator's command.

    python -m voicecore_http [--host 127.0.0.1] [--port 8000] [--env-file .env]
    python -m voicecore_http migrate [--env-file .env]
    python -m voicecore_http webhooks replay [--since T] [--event-id ID] [--env-file .env]
    python -m voicecore_http webhooks enable [--env-file .env]

``migrate`` brings the journal's schema (JOURNAL_URL) to this version's; a service
started against an older PostgreSQL schema refuses to start and names this command.
``webhooks`` sends dead app events again, or enables the app's endpoint after a 410
(voicecore_http/webhook_commands.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.errors import JournalUnavailable
from voicecore.settings import EnvFile, SettingsError, load_journal_settings
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.logs import configure_logging
from voicecore_http.server import serve
from voicecore_http.webhook_commands import add_webhook_commands

_ENV_FILE_HELP = "also read settings from this file (the environment wins); by default only the environment"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voicecore-http", description="Serve the voicecore HTTP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--env-file", default=None, help=_ENV_FILE_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    migrating = commands.add_parser("migrate", help="bring the journal's schema (JOURNAL_URL) up to date")
    migrating.add_argument("--env-file", default=None, help=_ENV_FILE_HELP)
    add_webhook_commands(commands, env_file_help=_ENV_FILE_HELP)
    args = parser.parse_args(argv)
    if args.command == "migrate":
        return migrate(args.env_file)
    if args.command == "webhooks":
        code: int = args.run(args)
        return code
    return serve_api(args.host, args.port, args.env_file)


def serve_api(host: str, port: int, env_file: EnvFile) -> int:
    try:
        container = ServiceContainer.from_environment(env_file=env_file)
        app = create_app(container)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    http_settings = container.http_settings()
    configure_logging(http_settings.log_format, http_settings.log_level)
    serve(app, http_settings, host=host, port=port)
    return 0


def migrate(env_file: EnvFile) -> int:
    """Migrate the journal; says from which revision to which, never where the database is."""
    try:
        settings = load_journal_settings(env_file=env_file)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def run() -> tuple[str | None, str]:
        journal = SqlSessionJournal(settings.journal_location(), timeout_seconds=60)
        try:
            return await journal.migrate()
        finally:
            await journal.aclose()

    try:
        before, head = asyncio.run(run())
    except JournalUnavailable as exc:
        print(f"voicecore: {exc}", file=sys.stderr)
        return 1
    if before == head:
        print(f"the session journal's schema is up to date ({head})")
    else:
        print(f"the session journal's schema was migrated from {before or 'nothing'} to {head}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
