"""A state machine over the journal, against a model, on SQLite and PostgreSQL.

Sessions start, rejoin and end; LiveKit closes rooms behind voicecore's back, its
webhooks arrive or not, late, duplicated and in any order; the database goes down
and comes back; the repair runs; users erase their history. Whatever happens:

- every session has exactly one record, and a record that ended is told ended once;
- after a repair pass, every room LiveKit has has a record (no session without a
  record), and no record says live for a room LiveKit no longer has (no false live);
- an end the owner made says ``user_ended`` at the moment of the delete, an end
  LiveKit reported says ``room_closed`` at its time, and an end nobody saw says
  ``unobserved``, approximate, bounded by the repair's time;
- ends reported while the database was down are recorded, with their true times,
  once it is back.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.figures import FIGURES
from tests.support.journals import (
    SwitchableJournal,
    every_stored_event,
    postgres_journal_url,
    sqlite_journal_url,
)
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import GuardrailPolicy, SessionPolicy, User
from voicecore.core.errors import JournalUnavailable, SessionNotFound
from voicecore.core.events import RoomEvent, RoomEventKind, SessionEvents
from voicecore.core.history import AppEvents
from voicecore.core.index import INDEX_GRACE
from voicecore.core.journal import EndReason, HistoryQuery
from voicecore.core.recorder import SessionRecorder
from voicecore.core.repair import SessionRepair
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.postgres_server import LocalPostgresServer

T = TypeVar("T")
# What the runs went through, so a run that never reached the interesting states fails.
SEEN: Counter[str] = Counter()
USERS = ["auth0|1", "auth0|1-2"]  # ids that extend each other: their records must never mix
START = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Expected:
    """What the model knows of one session."""

    user: str
    live_in_livekit: bool = True
    end: tuple[EndReason, datetime] | None = None  # an end that must be recorded exactly
    closed_unseen_at: datetime | None = None  # LiveKit closed it and nobody told us
    erased: bool = False
    rejoins: int = 0
    notes: list[str] = field(default_factory=list)


class JournalMachine(RuleBasedStateMachine):
    new_journal_url: Callable[[], str]

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = Clock()
        self.gateway = InMemoryRoomGateway(self.clock)
        self.store = InProcessSessionStore(clock=self.clock)
        self.url = self.new_journal_url()
        self.journal = SwitchableJournal(self.url)
        self.run(self.journal.open())
        self.recorder = SessionRecorder(
            self.journal, AppEvents(enabled=True, clock=self.clock), clock=self.clock
        )
        policy = SessionPolicy()
        self.sessions = VoiceSessions(
            self.gateway,
            LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
            policy,
            store=self.store,
            recorder=self.recorder,
            guardrails=GuardrailPolicy(max_live_per_user=0, creates_per_minute=0),
            clock=self.clock,
        )
        self.events = SessionEvents(self.store, self.recorder)
        self.repair = SessionRepair(self.gateway, self.store, self.recorder, policy, clock=self.clock)
        self.model: dict[str, Expected] = {}
        self.metadata: dict[str, str] = {}  # what each room carried, for LiveKit's late webhooks
        self.event_ids = 0

    def run(self, step: Awaitable[T]) -> T:
        async def awaited() -> T:
            return await step

        return self.runner.run(awaited())

    def flush(self) -> None:
        """Write what waited for the database (as the flush loop does, every few seconds)."""
        if self.run(self.recorder.flush()):
            SEEN["waiting writes written after an outage"] += 1

    def teardown(self) -> None:
        try:
            if self.journal.down:
                # A run that ends in an outage: the database comes back, and what waited is written.
                self.the_database_comes_back()
                self.each_record_is_what_happened()
            self.run(self.sessions.aclose())
            self.run(self.journal.aclose())
        finally:
            self.runner.close()

    def rooms(self, *, live: bool | None = None) -> list[str]:
        return sorted(
            name
            for name, expected in self.model.items()
            if not expected.erased and (live is None or expected.live_in_livekit == live)
        )

    def webhook(self, room: str, kind: RoomEventKind, at: datetime, *, agent: bool = False) -> RoomEvent:
        self.event_ids += 1
        identity = "agent-1" if agent else None
        return RoomEvent(f"EV_{self.event_ids}", kind, room, self.metadata[room], at, identity, agent)

    # --- rules -----------------------------------------------------------------------

    @initialize(users=st.lists(st.sampled_from(USERS), min_size=2, max_size=4))
    def some_sessions_are_live(self, users: list[str]) -> None:
        self.start(users)

    @precondition(lambda self: not self.journal.down)
    @rule(users=st.lists(st.sampled_from(USERS), min_size=1, max_size=3))
    def start(self, users: list[str]) -> None:
        for user in users:
            started = self.run(self.sessions.start(User(user)))
            self.model[started.room_name] = Expected(user)
            self.metadata[started.room_name] = self.gateway.spec_of(started.room_name).metadata

    @precondition(lambda self: self.journal.down)
    @rule(user=st.sampled_from(USERS))
    def a_start_while_the_journal_is_down_makes_nothing(self, user: str) -> None:
        before = set(self.gateway.room_names)
        with pytest.raises(JournalUnavailable):
            self.run(self.sessions.start(User(user)))
        assert set(self.gateway.room_names) == before  # the room made was removed again

    @rule(data=st.data(), webhooks=st.integers(0, 2))
    def the_owner_ends(self, data: st.DataObject, webhooks: int) -> None:
        live = self.rooms(live=True)
        if not live:
            return
        room = data.draw(st.sampled_from(live))
        expected = self.model[room]
        self.run(self.sessions.end(User(expected.user), room))
        expected.live_in_livekit = False
        expected.end = (EndReason.USER_ENDED, self.clock.now)
        SEEN[
            "ended by the owner while the database was down" if self.journal.down else "ended by the owner"
        ] += 1
        # LiveKit tells of the room it closed for us, maybe twice: the owner's end stands.
        for _ in range(webhooks):
            self.run(self.events.handle(self.webhook(room, RoomEventKind.ROOM_FINISHED, self.clock.now)))

    @rule(data=st.data(), told=st.booleans(), twice=st.booleans())
    def livekit_closes_a_room(self, data: st.DataObject, told: bool, twice: bool) -> None:
        live = self.rooms(live=True)
        if not live:
            return
        room = data.draw(st.sampled_from(live))
        expected = self.model[room]
        self.run(self.gateway.delete_room(room))
        expected.live_in_livekit = False
        if told:
            finished = self.webhook(room, RoomEventKind.ROOM_FINISHED, self.clock.now)
            for _ in range(2 if twice else 1):
                self.run(self.events.handle(finished))
            expected.end = (EndReason.ROOM_CLOSED, self.clock.now)
            SEEN["closed by LiveKit, told"] += 1
        else:
            expected.closed_unseen_at = self.clock.now
            SEEN["closed by LiveKit, unseen"] += 1

    @rule(data=st.data())
    def the_agent_joins(self, data: st.DataObject) -> None:
        live = self.rooms(live=True)
        if live:
            room = data.draw(st.sampled_from(live))
            self.run(
                self.events.handle(
                    self.webhook(room, RoomEventKind.PARTICIPANT_JOINED, self.clock.now, agent=True)
                )
            )

    @rule(data=st.data())
    def the_owner_rejoins(self, data: st.DataObject) -> None:
        live = self.rooms(live=True)
        if live:
            room = data.draw(st.sampled_from(live))
            self.run(self.sessions.rejoin(User(self.model[room].user), room))
            self.model[room].rejoins += 1

    @rule(user=st.sampled_from(USERS))
    def someone_elses_end_is_refused(self, user: str) -> None:
        for room in self.rooms(live=False)[:1]:
            with pytest.raises(SessionNotFound):
                self.run(self.sessions.end(User(self.model[room].user), room))

    @rule(seconds=st.integers(1, 90))
    def time_passes(self, seconds: int) -> None:
        self.clock.now += timedelta(seconds=seconds)

    @precondition(lambda self: not self.journal.down)
    @rule(data=st.data(), ends=st.integers(0, 2))
    def the_database_goes_down(self, data: st.DataObject, ends: int) -> None:
        """An outage begins, and the owner may end sessions during it (the rest goes on in other rules)."""
        self.journal.down = True
        for _ in range(ends):
            self.the_owner_ends(data, webhooks=data.draw(st.integers(0, 1)))

    @precondition(lambda self: self.journal.down)
    @rule()
    def the_database_comes_back(self) -> None:
        self.journal.down = False
        self.flush()

    @precondition(lambda self: not self.journal.down)
    @rule()
    def a_repair_pass(self) -> None:
        self.flush()
        self.clock.now += INDEX_GRACE + timedelta(seconds=1)  # every record settled
        assert self.run(self.repair.run_once()) is not None
        for expected in self.model.values():
            if not expected.live_in_livekit and expected.end is None and not expected.erased:
                expected.end = (EndReason.UNOBSERVED, self.clock.now)  # a bound, checked below
        # No session without a record; no false live.
        assert self.run(self.journal.known(sorted(self.gateway.room_names))) == set(self.gateway.room_names)
        assert {r.room_name for r in self.run(self.journal.live())} <= set(self.gateway.room_names)
        # Every ended session was told once, every session's events are numbered in order.
        stored = self.run(every_stored_event(self.url))
        for name, expected in self.model.items():
            if expected.erased:
                continue
            told = [json.loads(e.body) for e in stored.get(name, [])]
            assert [body["data"]["sequence"] for body in told] == list(range(1, len(told) + 1))
            ends = sum(body["type"] == "session.ended" for body in told)
            assert ends == (expected.end is not None), name

    @precondition(lambda self: not self.journal.down)
    @rule(user=st.sampled_from(USERS))
    def the_user_erases_their_history(self, user: str) -> None:
        self.flush()
        if self.recorder.backlog:
            return
        erased = self.run(self.sessions.erase_history(User(user)))
        gone = [
            name
            for name, expected in self.model.items()
            if expected.user == user and not expected.erased and self.run(self.journal.get(name)) is None
        ]
        for name in gone:
            self.model[name].erased = True
        assert erased == len(gone)
        if erased:
            SEEN["history erased"] += 1

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def each_record_is_what_happened(self) -> None:
        if self.journal.down or self.recorder.backlog:
            return
        for name, expected in self.model.items():
            if expected.erased:
                continue
            record = self.run(self.journal.get(name))
            assert record is not None, name
            assert record.user_id == expected.user
            assert record.rejoins == expected.rejoins
            if expected.end is None:
                assert record.live, name
                continue
            reason, at = expected.end
            assert record.end_reason is reason, (name, record)
            if reason is EndReason.UNOBSERVED:
                assert record.end_approximate
                assert expected.closed_unseen_at is not None
                assert expected.closed_unseen_at <= record.ended_at <= at  # type: ignore[operator]
            else:
                assert (record.ended_at, record.end_approximate) == (at, False)

    @invariant()
    def histories_never_mix(self) -> None:
        if self.journal.down:
            return
        for user in USERS:
            page = self.run(self.journal.history(HistoryQuery(user, limit=100)))
            assert all(record.user_id == user for record in page)


def check(new_journal_url: Callable[[], str], examples: int) -> None:
    SEEN.clear()
    machine = type("Machine", (JournalMachine,), {"new_journal_url": staticmethod(new_journal_url)})
    run_state_machine_as_test(machine, settings=settings(max_examples=examples, stateful_step_count=30))
    vacuous = {
        "ended by the owner",
        "ended by the owner while the database was down",
        "closed by LiveKit, told",
        "closed by LiveKit, unseen",
        "waiting writes written after an outage",
        "history erased",
    } - set(SEEN)
    FIGURES.record(
        "Journal state machine", ", ".join(f"{what}: {count}" for what, count in sorted(SEEN.items()))
    )
    assert not vacuous, f"the runs never reached: {sorted(vacuous)} ({dict(SEEN)})"


def test_the_sqlite_journal_keeps_every_session_exactly(tmp_path: Path) -> None:
    directories = (tmp_path / str(n) for n in range(10_000))

    def fresh() -> str:
        directory = next(directories)
        directory.mkdir()
        return sqlite_journal_url(directory)

    check(fresh, examples=50)


def test_the_postgresql_journal_keeps_every_session_exactly(postgres_server: LocalPostgresServer) -> None:
    check(lambda: postgres_journal_url(postgres_server), examples=40)
