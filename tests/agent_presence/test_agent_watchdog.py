"""The agent watchdog and agent_state on the in-memory gateway, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from tests.support.clocks import StoppedClock
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.prometheus_metrics import PrometheusMetrics
from voicecore.core.agent_watchdog import AgentWatchdog
from voicecore.core.domain import AgentState, SessionPolicy, User
from voicecore.core.ports import ParticipantKind
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway

ALICE = User("alice")
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = SessionPolicy(agent_name="coach", agent_join_grace=timedelta(seconds=20))


def _sample(metrics: PrometheusMetrics, name: str) -> float:
    for family in text_string_to_metric_families(metrics.render(0).decode()):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} not exposed")


async def test_a_missing_agent_is_dispatched_again_once_then_reported_missing(
    recorder: SessionRecorder,
) -> None:
    clock = StoppedClock(NOON)
    gateway, store, metrics = (
        InMemoryRoomGateway(clock),
        InProcessSessionStore(clock=clock),
        PrometheusMetrics(),
    )
    sessions = VoiceSessions(
        gateway,
        LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
        POLICY,
        store=store,
        clock=clock,
        metrics=metrics,
        recorder=recorder,
    )
    watchdog = AgentWatchdog(
        gateway, store, recorder, POLICY, redispatch_limit=1, clock=clock, metrics=metrics
    )
    room = (await sessions.start(ALICE)).room_name
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.PENDING

    gateway.join(room, "alice")
    await store.note_participant(room, agent=False, joined=True, at=clock())
    clock.advance(timedelta(seconds=10))
    assert await watchdog.run_once() == []  # within the window: nothing to do
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.PENDING

    clock.advance(timedelta(seconds=11))
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.MISSING
    assert await watchdog.run_once() == [room]
    assert [d.agent_name for d in gateway.dispatches_of(room)] == ["coach", "coach"]
    [listed] = await sessions.list(ALICE)
    assert (listed.agent_state, listed.agent_connected) == (AgentState.PENDING, False)

    clock.advance(timedelta(seconds=21))
    assert await watchdog.run_once() == []  # the limit: one re-dispatch per session
    assert len(gateway.dispatches_of(room)) == 2
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.MISSING
    assert await watchdog.run_once() == []
    assert _sample(metrics, "voicecore_agent_redispatches_total") == 1
    assert _sample(metrics, "voicecore_agent_misses_total") == 2  # once per dispatch round


async def test_an_agent_that_left_a_waiting_user_is_replaced_and_the_state_says_so(
    recorder: SessionRecorder,
) -> None:
    clock = StoppedClock(NOON)
    gateway, store = InMemoryRoomGateway(clock), InProcessSessionStore(clock=clock)
    sessions = VoiceSessions(
        gateway,
        LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
        POLICY,
        store=store,
        clock=clock,
        recorder=recorder,
    )
    watchdog = AgentWatchdog(gateway, store, recorder, POLICY, redispatch_limit=1, clock=clock)
    room = (await sessions.start(ALICE)).room_name
    gateway.join(room, "alice")
    gateway.join(room, "agent-1", ParticipantKind.AGENT)
    await store.note_participant(room, agent=True, joined=True, at=clock())
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.JOINED

    clock.advance(timedelta(seconds=5))
    gateway.leave(room, "agent-1")
    await store.note_participant(room, agent=True, joined=False, at=clock())
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.LEFT
    clock.advance(timedelta(seconds=1))
    assert await watchdog.run_once() == [room]
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.PENDING
    gateway.join(room, "agent-2", ParticipantKind.AGENT)
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.JOINED


async def test_an_agent_that_left_an_empty_room_is_not_replaced(recorder: SessionRecorder) -> None:
    clock = StoppedClock(NOON)
    gateway, store = InMemoryRoomGateway(clock), InProcessSessionStore(clock=clock)
    sessions = VoiceSessions(
        gateway,
        LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
        POLICY,
        store=store,
        clock=clock,
        recorder=recorder,
    )
    watchdog = AgentWatchdog(gateway, store, recorder, POLICY, redispatch_limit=1, clock=clock)
    room = (await sessions.start(ALICE)).room_name
    await store.note_participant(room, agent=True, joined=True, at=clock())
    clock.advance(timedelta(seconds=30))
    await store.note_participant(room, agent=True, joined=False, at=clock())
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.LEFT
    assert await watchdog.run_once() == []
    assert len(gateway.dispatches_of(room)) == 1
