"""The index repair: LiveKit is the truth, one replica at a time, young records left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.core.domain import AgentType, SessionMode, SessionPolicy
from voicecore.core.index import INDEX_GRACE
from voicecore.core.metadata import RoomMetadata
from voicecore.core.naming import new_room_name
from voicecore.core.recorder import SessionRecorder
from voicecore.core.repair import LOCK_NAME, SessionRepair
from voicecore.core.session_record import SessionRecord
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

NOON = datetime(2026, 11, 26, 12, tzinfo=UTC)


def session_room(gateway: InMemoryRoomGateway, user: str) -> str:
    name = new_room_name(user)
    gateway.put_room(name, RoomMetadata(user, AgentType.WORKOUT, SessionMode.VOICE, NOON).encode())
    return name


async def test_a_pass_adds_what_livekit_has_and_removes_what_it_lost(recorder: SessionRecorder) -> None:
    gateway, store = InMemoryRoomGateway(), InProcessSessionStore(clock=lambda: NOON)
    unindexed = session_room(gateway, "auth0|1")
    gateway.put_room(new_room_name("auth0|2"), "not voicecore's")  # never a session
    gone, young = new_room_name("auth0|3"), new_room_name("auth0|3")
    await store.add_session(SessionRecord(gone, "auth0|3", "general", NOON - 2 * INDEX_GRACE))
    await store.add_session(SessionRecord(young, "auth0|3", "general", NOON))  # a create in flight
    repair = SessionRepair(gateway, store, recorder, SessionPolicy(), clock=lambda: NOON)

    report = await repair.run_once()

    assert report is not None
    assert (report.added, report.removed) == ((unindexed,), (gone,))
    assert {r.room_name for r in await store.all_sessions()} == {unindexed, young}
    assert await store.user_sessions("auth0|1") == [SessionRecord(unindexed, "auth0|1", "workout", NOON)]
    again = await repair.run_once()
    assert again is not None
    assert (again.added, again.removed) == ((), ())


async def test_only_one_replica_repairs_at_a_time(recorder: SessionRecorder) -> None:
    gateway, store = InMemoryRoomGateway(), InProcessSessionStore(clock=lambda: NOON)
    session_room(gateway, "u")
    assert await store.acquire_lock(LOCK_NAME, "another replica", lease=timedelta(seconds=30))
    assert await SessionRepair(gateway, store, recorder, SessionPolicy()).run_once() is None
    assert await store.all_sessions() == []


async def test_a_failed_pass_is_logged_and_releases_the_lock(recorder: SessionRecorder) -> None:
    gateway, store = InMemoryRoomGateway(), InProcessSessionStore(clock=lambda: NOON)
    gateway.fail("list_rooms")
    repair = SessionRepair(gateway, store, recorder, SessionPolicy(), clock=lambda: NOON)
    assert await repair.run_logged() is None
    gateway.recover()
    assert await repair.run_once() is not None
