"""``python -m bench.journal_free --port N``: voicecore as shipped, but its journal kept in a dict.

A reference target, not a way to run voicecore: the baseline what the journal costs
is taken from. Everything else is ``python -m voicecore_http``'s own path (settings
from the environment, the composition root, the same uvicorn options and logging);
the container's ``journal`` is replaced, through its documented keyword, by
``MemoryJournal``: the same port, no database, no I/O, nothing durable. A create
still records its session (a dict entry), the repair and the history still read
records, so the use cases run exactly the code they run on a database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

from voicecore.core.journal import Decide, Erasure, HistoryQuery, JournalChange, JournalRecord, SessionJournal
from voicecore.settings import SettingsError, load_settings
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.logs import configure_logging
from voicecore_http.server import serve
from voicecore_http.settings import load_http_settings


class MemoryJournal(SessionJournal):
    """The journal port over dicts, for one process. Events are counted on the record, not kept."""

    def __init__(self) -> None:
        self._records: dict[str, JournalRecord] = {}
        self._usage: dict[tuple[str, int], int] = {}  # (user, day): ms, as the usage_days table

    def _use(self, change: JournalChange) -> None:
        for day, ms in change.usage:
            key = (change.record.user_id, day)
            self._usage[key] = self._usage.get(key, 0) + ms

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def start(self, change: JournalChange) -> bool:
        if change.record.room_name in self._records:
            return False
        self._records[change.record.room_name] = change.record
        self._use(change)
        return True

    async def change(self, room_name: str, decide: Decide) -> JournalRecord | None:
        record = self._records.get(room_name)
        if record is None:
            return None
        change = decide(record)
        if change is None:
            return record
        self._records[room_name] = change.record
        self._use(change)
        return change.record

    async def get(self, room_name: str) -> JournalRecord | None:
        return self._records.get(room_name)

    async def known(self, room_names: Sequence[str]) -> set[str]:
        return {name for name in room_names if name in self._records}

    async def live(self, user_id: str | None = None) -> list[JournalRecord]:
        found = [r for r in self._records.values() if r.live and user_id in (None, r.user_id)]
        return sorted(found, key=lambda r: r.created_at)

    async def history(self, query: HistoryQuery) -> list[JournalRecord]:
        def wanted(r: JournalRecord) -> bool:
            return (
                r.user_id == query.user_id
                and (query.after is None or (r.created_at, r.room_name) < query.after)
                and query.agent_type in (None, r.agent_type)
                and (query.end_reason is None or r.end_reason == query.end_reason)
                and (query.since is None or r.created_at >= query.since)
                and (query.until is None or r.created_at < query.until)
            )

        found = sorted(filter(wanted, self._records.values()), key=lambda r: (r.created_at, r.room_name))
        return found[::-1][: query.limit]

    async def usage_days(self, user_id: str, first_day: int, end_day: int) -> list[tuple[int, int]]:
        return sorted(
            (day, ms)
            for (user, day), ms in self._usage.items()
            if user == user_id and first_day <= day < end_day
        )

    async def erase_ended(self, user_id: str) -> int:
        return len(self._drop(lambda r: r.user_id == user_id and not r.live))

    async def erase_user(self, user_id: str) -> Erasure:
        self._usage = {key: ms for key, ms in self._usage.items() if key[0] != user_id}
        return Erasure(records=len(self._drop(lambda r: r.user_id == user_id)))

    async def purge_ended_before(self, moment: datetime) -> int:
        return len(self._drop(lambda r: r.ended_at is not None and r.ended_at < moment))

    def _drop(self, doomed: Callable[[JournalRecord], bool]) -> list[str]:
        names = [name for name, record in self._records.items() if doomed(record)]
        for name in names:
            del self._records[name]
        return names

    def records(self) -> list[JournalRecord]:
        """Every record kept, for tests."""
        return list(self._records.values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journal_free")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        container = ServiceContainer.for_service(
            load_settings(), load_http_settings(), journal=MemoryJournal()
        )
        app = create_app(container)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    http_settings = container.http_settings()
    configure_logging(http_settings.log_format, http_settings.log_level)
    serve(app, http_settings, host="127.0.0.1", port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
