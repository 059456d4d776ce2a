"""A start that fails leaves nothing: no room, no index entry, not even when LiveKit acted and never answered.

The half-created room is looked for at once and, when LiveKit cannot say, in the background until
it can (docs/reliability.md "Found"). On the in-memory gateway, made to fail as LiveKit can.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.support.waiting import settled
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import AgentType, SessionMode, User
from voicecore.core.errors import GatewayError, StoreError
from voicecore.core.metadata import RoomMetadata
from voicecore.core.ports import Room, RoomSpec
from voicecore.core.recorder import SessionRecorder
from voicecore.core.session_record import SessionRecord
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import Admission
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

ALICE = User("alice", "alice@example.com")


NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class _CreatesThenTimesOut(InMemoryRoomGateway):
    """The server acts on the create, but the answer never arrives."""

    async def create_room(self, spec: RoomSpec) -> Room:
        await super().create_room(spec)
        raise GatewayError("create_room", spec.name, "LiveKit did not answer in time")


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


class _StoreDown(InProcessSessionStore):
    async def admit_session(self, record: SessionRecord, *, max_live: int, per_minute: int) -> Admission:
        raise StoreError("admit_session", "simulated outage")


async def test_a_create_that_fails_after_reaching_the_service_leaves_no_room(
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    gateway = _CreatesThenTimesOut()
    sessions = VoiceSessions(gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    with pytest.raises(GatewayError):
        await sessions.start(ALICE)
    assert gateway.room_names == frozenset()
    assert await sessions.list(ALICE) == []


async def test_a_failed_create_whose_cleanup_also_fails_still_reports_the_create_failure(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    memory_gateway.fail("create_room", "delete_room")
    with pytest.raises(GatewayError) as failure:
        await sessions.start(ALICE)
    assert failure.value.operation == "create_room"


async def test_cleanup_after_a_failed_create_never_removes_someone_elses_room(
    token_issuer: LiveKitTokenIssuer,
    monkeypatch: pytest.MonkeyPatch,
    recorder: SessionRecorder,
) -> None:
    class FailsToCreate(InMemoryRoomGateway):
        async def create_room(self, spec: RoomSpec) -> Room:
            raise GatewayError("create_room", spec.name, "LiveKit did not answer in time")

    gateway = FailsToCreate()
    taken = "fitness-voice-alice-0000000000000000"
    gateway.put_room(taken, RoomMetadata("mallory", AgentType.GENERAL, SessionMode.VOICE, NOON).encode())
    monkeypatch.setattr("voicecore.core.creation.new_room_name", lambda _user_id: taken)
    with pytest.raises(GatewayError):
        await VoiceSessions(gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder).start(
            ALICE
        )
    assert gateway.room_names == {taken}


async def test_a_half_created_room_is_removed_in_the_background_once_livekit_answers(
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    gateway = _CreatesThenTimesOut()
    gateway.fail("get_room")  # the inline check cannot get an answer either
    sessions = VoiceSessions(
        gateway, token_issuer, sleep=_no_wait, store=InProcessSessionStore(), recorder=recorder
    )
    with pytest.raises(GatewayError):
        await sessions.start(ALICE)
    assert len(gateway.room_names) == 1
    assert sessions.cleanups_pending == 1

    gateway.recover()  # LiveKit answers again
    await settled(lambda: sessions.cleanups_pending == 0, what="the background clean-up to finish")
    assert gateway.room_names == frozenset()


async def test_background_cleanup_gives_up_after_bounded_retries_and_closes_cleanly(
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    gateway = _CreatesThenTimesOut()
    gateway.fail("get_room")
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    sessions = VoiceSessions(
        gateway, token_issuer, sleep=record, store=InProcessSessionStore(), recorder=recorder
    )
    with pytest.raises(GatewayError):
        await sessions.start(ALICE)
    await settled(lambda: sessions.cleanups_pending == 0, what="the background clean-up to give up")
    assert len(slept) == 7
    assert sum(slept) < 65  # about a minute, then empty_timeout is the backstop
    assert len(gateway.room_names) == 1


async def test_aclose_cancels_pending_cleanups(
    token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    gateway = _CreatesThenTimesOut()
    gateway.fail("get_room")
    sessions = VoiceSessions(
        gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder
    )  # real sleeps: the cleanup is waiting
    with pytest.raises(GatewayError):
        await sessions.start(ALICE)
    assert sessions.cleanups_pending == 1
    await sessions.aclose()
    assert sessions.cleanups_pending == 0


async def test_only_answers_from_livekit_count_as_absent(
    token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    class CreateLostThenSlowToAnswer(InMemoryRoomGateway):
        """The create never lands; the first three lookups get no answer."""

        unanswered = 3

        async def create_room(self, spec: RoomSpec) -> Room:
            raise GatewayError("create_room", spec.name, "LiveKit did not answer in time")

        async def get_room(self, name: str) -> Room | None:
            if self.unanswered:
                self.unanswered -= 1
                raise GatewayError("get_room", name, "LiveKit did not answer in time")
            return await super().get_room(name)

    checks: list[float] = []

    async def record(seconds: float) -> None:
        checks.append(seconds)
        await asyncio.sleep(0)

    sessions = VoiceSessions(
        CreateLostThenSlowToAnswer(),
        token_issuer,
        sleep=record,
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    with pytest.raises(GatewayError):
        await sessions.start(ALICE)  # the inline lookup is the first unanswered one
    await settled(lambda: sessions.cleanups_pending == 0, what="the background clean-up to finish")
    assert len(checks) == 5  # two more unanswered, then three "absent" answers


async def test_no_cleanup_is_scheduled_after_aclose(
    token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    gateway = _CreatesThenTimesOut()
    gateway.fail("get_room")
    sessions = VoiceSessions(gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    await sessions.aclose()
    with pytest.raises(GatewayError):
        await sessions.start(ALICE)
    assert sessions.cleanups_pending == 0


async def test_a_store_failure_during_create_leaves_no_room_and_is_a_store_error(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    sessions = VoiceSessions(memory_gateway, token_issuer, store=_StoreDown(), recorder=recorder)
    with pytest.raises(StoreError):
        await sessions.start(ALICE)
    assert memory_gateway.room_names == frozenset()


async def test_a_create_that_fails_in_livekit_leaves_nothing_indexed(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    store = InProcessSessionStore()
    sessions = VoiceSessions(memory_gateway, token_issuer, store=store, recorder=recorder)
    memory_gateway.fail("create_room")
    with pytest.raises(GatewayError):
        await sessions.start(ALICE)
    assert await store.all_sessions() == []
