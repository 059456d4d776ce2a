"""Room events applied to the store: in any order, any number of times, the same result."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.support.journals import sqlite_recorder
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.core.domain import AgentType, SessionMode
from voicecore.core.events import RoomEvent, RoomEventKind, SessionEvents
from voicecore.core.metadata import RoomMetadata
from voicecore.core.naming import new_room_name
from voicecore.core.recorder import SessionRecorder

NOON = datetime(2026, 11, 26, 12, tzinfo=UTC)
ROOM = new_room_name("auth0|42")
METADATA = RoomMetadata("auth0|42", AgentType.DIET, SessionMode.VOICE, NOON).encode()


def event(number: int, kind: RoomEventKind, *, agent: bool = False) -> RoomEvent:
    return RoomEvent(
        id=f"EV_{number}",
        kind=kind,
        room_name=ROOM,
        room_metadata=METADATA,
        created_at=NOON + timedelta(seconds=number),
        participant_identity="agent" if agent else "auth0|42",
        participant_is_agent=agent,
    )


# A session's life: started, the user joins, the agent joins, the user leaves, the agent is cut off.
LIFE = [
    event(0, RoomEventKind.ROOM_STARTED),
    event(1, RoomEventKind.PARTICIPANT_JOINED),
    event(2, RoomEventKind.PARTICIPANT_JOINED, agent=True),
    event(3, RoomEventKind.PARTICIPANT_LEFT),
    event(4, RoomEventKind.PARTICIPANT_CONNECTION_ABORTED, agent=True),
]


async def apply(events: list[RoomEvent]) -> InProcessSessionStore:
    store = InProcessSessionStore(clock=lambda: NOON)
    async with sqlite_recorder() as recorder:
        handler = SessionEvents(store, recorder)
        for item in events:
            await handler.handle(item)
    return store


@given(st.permutations(LIFE), st.lists(st.sampled_from(LIFE), max_size=6))
def test_any_order_and_any_repeats_give_the_same_record(
    order: list[RoomEvent], repeats: list[RoomEvent]
) -> None:
    expected = asyncio.run(apply(LIFE))
    store = asyncio.run(apply([*order, *repeats]))
    assert asyncio.run(store.get_session(ROOM)) == asyncio.run(expected.get_session(ROOM))


async def test_a_session_life_is_recorded() -> None:
    record = await (await apply(LIFE)).get_session(ROOM)
    assert record is not None
    assert (record.user_id, record.agent_type, record.created_at) == ("auth0|42", "diet", NOON)
    assert (record.user_joined_at, record.agent_joined_at) == (
        NOON + timedelta(seconds=1),
        NOON + timedelta(seconds=2),
    )
    assert (record.user_left_at, record.agent_left_at) == (
        NOON + timedelta(seconds=3),
        NOON + timedelta(seconds=4),
    )


async def test_room_finished_forgets_the_session_and_a_duplicate_is_ignored(
    recorder: SessionRecorder,
) -> None:
    store = await apply(LIFE)
    handler = SessionEvents(store, recorder)
    finished = event(5, RoomEventKind.ROOM_FINISHED)
    assert await handler.handle(finished) is True
    assert await handler.handle(finished) is False
    assert await store.get_session(ROOM) is None


async def test_rooms_that_are_not_voice_sessions_and_unknown_kinds_change_nothing(
    recorder: SessionRecorder,
) -> None:
    store = InProcessSessionStore(clock=lambda: NOON)
    handler = SessionEvents(store, recorder)
    foreign = RoomEvent("EV_9", RoomEventKind.ROOM_STARTED, "lobby-1", METADATA, NOON)
    forged = RoomEvent("EV_10", RoomEventKind.ROOM_STARTED, new_room_name("mallory"), METADATA, NOON)
    egress = RoomEvent("EV_11", "egress_started", ROOM, METADATA, NOON)
    assert await handler.handle(foreign) is True
    assert await handler.handle(forged) is True
    assert await handler.handle(egress) is False
    assert await store.all_sessions() == []
