"""``python -m voicecore_http webhooks replay|enable``: what an operator does about app webhooks.

Both read the journal's and the app webhooks' settings (the service's own
environment, or ``--env-file``), not LiveKit's, and leave the sending to the
service's replicas:

- ``replay [--since T] [--event-id ID]`` makes dead events pending again, with
  every try of the schedule, and wakes the senders (PostgreSQL: at once; SQLite:
  at the sender's next look, within seconds);
- ``enable`` enables the endpoint after it answered 410 Gone, once it takes events again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from voicecore.adapters.sql_journal import SqlEventOutbox, SqlSessionJournal
from voicecore.adapters.sql_journal.outbox import endpoint_key
from voicecore.core.domain import utc_now
from voicecore.core.errors import JournalSchemaOutdated, JournalUnavailable
from voicecore.core.outbox import EventOutbox
from voicecore.settings import SettingsError, load_app_webhook_settings

CONFIGURATION_ERROR = 2
DATABASE_ERROR = 1


def add_webhook_commands(commands: Any, *, env_file_help: str) -> None:
    """Register ``webhooks replay`` and ``webhooks enable`` on the top-level command list."""
    webhooks = commands.add_parser(
        "webhooks", help="app webhooks: send dead events again, enable the endpoint"
    )
    actions = webhooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", default=argparse.SUPPRESS, help=env_file_help)  # else the one before
    replay = actions.add_parser("replay", parents=[common], help="send dead events again")
    replay.add_argument(
        "--since", type=_moment, help="only events made at or after this ISO 8601 time (UTC unless it says)"
    )
    replay.add_argument("--event-id", help="only this event (its webhook-id)")
    replay.set_defaults(run=run_replay)
    enable = actions.add_parser("enable", parents=[common], help="enable the endpoint after a 410 Gone")
    enable.set_defaults(run=run_enable)


def run_replay(args: argparse.Namespace) -> int:
    async def replay(outbox: EventOutbox) -> str:
        replayed = await outbox.replay(utc_now(), since=args.since, event_id=args.event_id)
        return f"{replayed} dead app events are pending again; the service sends them"

    return _with_outbox(args, replay)


def run_enable(args: argparse.Namespace) -> int:
    async def enable(outbox: EventOutbox) -> str:
        if await outbox.enable_endpoint():
            return "the app's webhook endpoint is enabled again; the service sends what waited"
        return "the app's webhook endpoint was not disabled"

    return _with_outbox(args, enable)


def _with_outbox(args: argparse.Namespace, action: Callable[[EventOutbox], Awaitable[str]]) -> int:
    try:
        settings = load_app_webhook_settings(env_file=args.env_file)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return CONFIGURATION_ERROR
    if settings.app_webhook_url is None:
        print("APP_WEBHOOK_URL is not set: no app events are kept or sent", file=sys.stderr)
        return CONFIGURATION_ERROR
    url = settings.app_webhook_url

    async def run() -> str:
        journal = SqlSessionJournal(
            settings.journal_location(), timeout_seconds=settings.journal_timeout_seconds
        )
        await journal.open()
        try:
            outbox = SqlEventOutbox(journal, endpoint=endpoint_key(url), senders=1)
            return await action(outbox)  # it is not opened: it claims nothing, it only writes
        finally:
            await journal.aclose()

    try:
        print(asyncio.run(run()))
    except JournalSchemaOutdated as exc:
        print(exc, file=sys.stderr)
        return CONFIGURATION_ERROR
    except JournalUnavailable as exc:
        print(exc, file=sys.stderr)
        return DATABASE_ERROR
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 time, such as 2031-03-01T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
