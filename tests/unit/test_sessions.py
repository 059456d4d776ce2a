"""The four use cases, through their public API, on the in-memory gateway."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_SECRET
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.core.domain import AgentType, SessionMode, SessionPolicy, User
from voicecore.core.errors import GatewayError, InvalidUserId, NotSessionOwner, SessionNotFound, StoreError
from voicecore.core.metadata import RoomMetadata
from voicecore.core.ports import ParticipantKind, Room, RoomSpec
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import Admission, SessionRecord
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway, RoomFull

ALICE = User("alice", "alice@example.com")
BOB = User("bob", "bob@example.com")
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_start_creates_a_room_with_the_required_settings_and_metadata(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE, AgentType.WORKOUT)

    assert memory_gateway.room_names == {started.room_name}
    spec = memory_gateway.spec_of(started.room_name)
    assert spec.empty_timeout_seconds == 300
    assert spec.max_participants == 2
    assert spec.agent_dispatch is None
    metadata = RoomMetadata.decode(spec.metadata)
    assert metadata.user_id == "alice"
    assert metadata.agent_type is AgentType.WORKOUT
    assert metadata.mode is SessionMode.VOICE
    assert metadata.created_at == started.created_at
    assert started.agent_type is AgentType.WORKOUT


async def test_start_defaults_to_the_general_agent(sessions: VoiceSessions) -> None:
    started = await sessions.start(ALICE)
    assert started.agent_type is AgentType.GENERAL
    [summary] = await sessions.list(ALICE)
    assert summary.agent_type is AgentType.GENERAL


async def test_started_token_joins_only_that_room_as_the_user(sessions: VoiceSessions) -> None:
    started = await sessions.start(ALICE)
    claims = jwt.decode(started.token, TEST_API_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["name"] == "alice@example.com"
    assert claims["video"]["room"] == started.room_name
    assert claims["video"]["roomJoin"] is True
    assert datetime.fromtimestamp(claims["exp"], UTC) == started.expires_at
    assert claims["exp"] - claims["nbf"] == 6 * 3600


async def test_start_uses_the_configured_policy(
    memory_gateway: InMemoryRoomGateway, recorder: SessionRecorder
) -> None:
    policy = SessionPolicy(
        token_ttl=timedelta(minutes=30), empty_timeout_seconds=60, max_participants=3, agent_name="coach"
    )
    sessions = VoiceSessions(
        memory_gateway,
        LiveKitTokenIssuer("k", TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
        policy,
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    started = await sessions.start(BOB, AgentType.DIET)

    spec = memory_gateway.spec_of(started.room_name)
    assert (spec.empty_timeout_seconds, spec.max_participants) == (60, 3)
    assert spec.agent_dispatch is not None
    assert spec.agent_dispatch.agent_name == "coach"
    assert json.loads(spec.agent_dispatch.metadata) == {
        "user_id": "bob",
        "agent_type": "diet",
        "room_name": started.room_name,
    }
    claims = jwt.decode(started.token, TEST_API_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["nbf"] == 30 * 60


async def test_start_refuses_a_user_id_that_cannot_name_a_room(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    with pytest.raises(InvalidUserId):
        await sessions.start(User("bad id"))
    assert memory_gateway.room_names == frozenset()


async def test_start_never_reports_a_room_that_already_existed(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    monkeypatch: pytest.MonkeyPatch,
    recorder: SessionRecorder,
) -> None:
    # Every name drawn is already taken by someone else's room.
    taken = "fitness-voice-alice-0000000000000000"
    squatter = RoomMetadata("mallory", AgentType.GENERAL, SessionMode.VOICE, NOON).encode()
    memory_gateway.put_room(taken, squatter)
    monkeypatch.setattr("voicecore.core.creation.new_room_name", lambda _user_id: taken)
    sessions = VoiceSessions(memory_gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder)

    with pytest.raises(GatewayError, match="fresh room name"):
        await sessions.start(ALICE)
    assert memory_gateway.room_names == {taken}
    assert memory_gateway.spec_of(taken).metadata == squatter


async def test_start_draws_another_name_after_a_collision(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    monkeypatch: pytest.MonkeyPatch,
    recorder: SessionRecorder,
) -> None:
    taken = "fitness-voice-alice-0000000000000000"
    memory_gateway.put_room(taken, "not ours")
    names = iter([taken, "fitness-voice-alice-1111111111111111"])
    monkeypatch.setattr("voicecore.core.creation.new_room_name", lambda _user_id: next(names))
    sessions = VoiceSessions(memory_gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder)
    started = await sessions.start(ALICE)
    assert started.room_name == "fitness-voice-alice-1111111111111111"
    assert [s.room_name for s in await sessions.list(ALICE)] == [started.room_name]


async def test_status_counts_everyone_and_spots_the_agent(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    empty = await sessions.status(ALICE, started.room_name)
    assert (empty.active, empty.participant_count, empty.agent_connected) == (False, 0, False)
    assert empty.created_at == started.created_at

    memory_gateway.join(started.room_name, "alice")
    one = await sessions.status(ALICE, started.room_name)
    assert (one.active, one.participant_count, one.agent_connected) == (True, 1, False)

    memory_gateway.join(started.room_name, "agent-1", ParticipantKind.AGENT)
    two = await sessions.status(ALICE, started.room_name)
    assert (two.active, two.participant_count, two.agent_connected) == (True, 2, True)


async def test_status_of_someone_elses_room_is_refused(sessions: VoiceSessions) -> None:
    started = await sessions.start(ALICE)
    with pytest.raises(NotSessionOwner):
        await sessions.status(BOB, started.room_name)


async def test_ownership_is_the_metadata_and_the_name_never_grants_anything(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    # Named for bob, metadata says alice: not a voice session, for either of them.
    name = "fitness-voice-bob-0123456789abcdef"
    memory_gateway.put_room(name, RoomMetadata("alice", AgentType.DIET, SessionMode.VOICE, NOON).encode())
    for user in (ALICE, BOB):
        with pytest.raises(SessionNotFound):
            await sessions.status(user, name)
        with pytest.raises(SessionNotFound):
            await sessions.end(user, name)
        assert await sessions.list(user) == []
    assert memory_gateway.room_names == {name}
    # Named for alice and metadata alice: alice's, and bob is refused by the metadata.
    mine = "fitness-voice-alice-0123456789abcdef"
    memory_gateway.put_room(mine, RoomMetadata("alice", AgentType.DIET, SessionMode.VOICE, NOON).encode())
    assert (await sessions.status(ALICE, mine)).room_name == mine
    with pytest.raises(NotSessionOwner):
        await sessions.status(BOB, mine)


async def test_status_judges_ownership_before_a_participants_failure(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    memory_gateway.fail("list_participants")
    with pytest.raises(NotSessionOwner):
        await sessions.status(BOB, started.room_name)
    with pytest.raises(SessionNotFound):
        await sessions.status(ALICE, "fitness-voice-alice-0123456789abcdef")
    with pytest.raises(GatewayError):
        await sessions.status(ALICE, started.room_name)


@pytest.mark.parametrize(
    "metadata",
    ["", "{}", "not json", json.dumps({"user_id": "alice"}), '{"v":2,"user_id":"alice"}'],
)
async def test_rooms_without_readable_metadata_belong_to_nobody(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway, metadata: str
) -> None:
    name = "fitness-voice-alice-0123456789abcdef"
    memory_gateway.put_room(name, metadata)
    with pytest.raises(SessionNotFound):
        await sessions.status(ALICE, name)
    with pytest.raises(SessionNotFound):
        await sessions.end(ALICE, name)
    assert await sessions.list(ALICE) == []
    assert memory_gateway.room_names == {name}


async def test_missing_and_impossible_rooms_are_not_found_without_asking_the_gateway(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    with pytest.raises(SessionNotFound):
        await sessions.status(ALICE, "fitness-voice-alice-0123456789abcdef")
    # With the gateway down, impossible names still answer "not found": they never reach it.
    memory_gateway.fail("get_room", "list_participants", "delete_room")
    for name in ["x" * 300, "fitness-voice-alice\x00", "../etc/passwd", ""]:
        with pytest.raises(SessionNotFound):
            await sessions.status(ALICE, name)
        with pytest.raises(SessionNotFound):
            await sessions.end(ALICE, name)


async def test_end_deletes_the_room_once(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    await sessions.end(ALICE, started.room_name)
    assert memory_gateway.room_names == frozenset()
    with pytest.raises(SessionNotFound):
        await sessions.end(ALICE, started.room_name)


async def test_end_of_someone_elses_room_changes_nothing(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    with pytest.raises(NotSessionOwner):
        await sessions.end(BOB, started.room_name)
    assert memory_gateway.room_names == {started.room_name}


async def test_concurrent_ends_give_exactly_one_success(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    results = await asyncio.gather(
        *(sessions.end(ALICE, started.room_name) for _ in range(10)), return_exceptions=True
    )
    assert results.count(None) == 1
    assert sum(isinstance(r, SessionNotFound) for r in results) == 9
    assert memory_gateway.room_names == frozenset()


async def test_list_shows_only_the_callers_rooms_newest_first(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    ticks = iter(NOON + timedelta(minutes=m) for m in range(10))
    sessions = VoiceSessions(
        memory_gateway,
        token_issuer,
        clock=lambda: next(ticks),
        store=InProcessSessionStore(),
        recorder=recorder,
    )
    first = await sessions.start(ALICE, AgentType.DIET)
    await sessions.start(User("alice-2"))  # a name that starts like alice's
    await sessions.start(BOB)
    second = await sessions.start(ALICE, AgentType.TRACKER)
    memory_gateway.join(second.room_name, "alice")
    memory_gateway.join(second.room_name, "agent", ParticipantKind.AGENT)

    listed = await sessions.list(ALICE)
    assert [(s.room_name, s.agent_type, s.participant_count) for s in listed] == [
        (second.room_name, AgentType.TRACKER, 2),
        (first.room_name, AgentType.DIET, 0),
    ]
    assert listed[1].created_at == NOON
    assert await sessions.list(User("carol")) == []


async def test_list_filters_whatever_the_gateway_returns(
    memory_gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    recorder: SessionRecorder,
) -> None:
    store = InProcessSessionStore()
    sessions = VoiceSessions(memory_gateway, token_issuer, store=store, recorder=recorder)
    mine = await sessions.start(ALICE)
    bobs = await sessions.start(BOB)
    # An index that went wrong (another user's room, a room with foreign metadata under
    # alice's name) never makes a listing show what alice does not own.
    forged = "fitness-voice-alice-0123456789abcdef"
    memory_gateway.put_room(forged, "garbage")
    await store.add_session(SessionRecord(forged, ALICE.id, "general", NOON))
    await store.add_session(SessionRecord(bobs.room_name, ALICE.id, "general", NOON))
    assert [s.room_name for s in await sessions.list(ALICE)] == [mine.room_name]


async def test_gateway_failures_surface_as_gateway_errors(
    sessions: VoiceSessions, memory_gateway: InMemoryRoomGateway
) -> None:
    started = await sessions.start(ALICE)
    memory_gateway.fail("create_room", "get_room", "get_rooms", "delete_room")
    with pytest.raises(GatewayError) as failure:
        await sessions.start(ALICE)
    assert failure.value.operation == "create_room"
    assert failure.value.room_name is not None
    with pytest.raises(GatewayError):
        await sessions.status(ALICE, started.room_name)
    with pytest.raises(GatewayError):
        await sessions.end(ALICE, started.room_name)
    with pytest.raises(GatewayError):
        await sessions.list(ALICE)
    memory_gateway.recover()
    assert memory_gateway.room_names == {started.room_name}
    assert (await sessions.status(ALICE, started.room_name)).room_name == started.room_name


def test_memory_gateway_models_max_participants_without_counting_agents(
    memory_gateway: InMemoryRoomGateway,
) -> None:
    spec = RoomSpec(name="r", metadata="", empty_timeout_seconds=300, max_participants=2)
    asyncio.run(memory_gateway.create_room(spec))
    memory_gateway.join("r", "a")
    memory_gateway.join("r", "agent", ParticipantKind.AGENT)
    memory_gateway.join("r", "b")
    with pytest.raises(RoomFull):
        memory_gateway.join("r", "c")
    memory_gateway.join("r", "a")  # the same identity again replaces, it does not add


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


class _CreatesThenTimesOut(InMemoryRoomGateway):
    """The server acts on the create, but the answer never arrives."""

    async def create_room(self, spec: RoomSpec) -> Room:
        await super().create_room(spec)
        raise GatewayError("create_room", spec.name, "LiveKit did not answer in time")


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


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
    for _ in range(20):
        if not sessions.cleanups_pending:
            break
        await asyncio.sleep(0)
    assert sessions.cleanups_pending == 0
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
    for _ in range(50):
        await asyncio.sleep(0)
    assert sessions.cleanups_pending == 0
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
    for _ in range(50):
        await asyncio.sleep(0)
    assert sessions.cleanups_pending == 0
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


class _StoreDown(InProcessSessionStore):
    async def admit_session(self, record: SessionRecord, *, max_live: int, per_minute: int) -> Admission:
        raise StoreError("admit_session", "simulated outage")


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
