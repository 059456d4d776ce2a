"""One budget of re-dispatches per session, shared by rejoins and the watchdog, on every replica (issue 23).

Each test lets the agent come and go again and again, as a worker that keeps losing
its agent would: however often the user rejoins, and whichever replica or the
watchdog asks, the session's agent is dispatched again at most
``agent_redispatch_limit`` times. Each dispatch sent is in the journal; the metrics
say who sent it and who was refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.apps import service_container, serving, session_path
from tests.support.clocks import StoppedClock
from tests.support.constants import AGENT_NAME, BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.prometheus_metrics import PrometheusMetrics
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.agent_watchdog import AgentWatchdog
from voicecore.core.domain import AgentState, SessionPolicy, User
from voicecore.core.ports import ParticipantKind
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.redis_server import LocalRedisServer

ALICE = User("alice")
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BUDGET = 2
POLICY = SessionPolicy(
    agent_name="coach", agent_join_grace=timedelta(seconds=20), agent_redispatch_limit=BUDGET
)


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock(NOON)


@pytest.fixture
def gateway(clock: StoppedClock) -> InMemoryRoomGateway:
    return InMemoryRoomGateway(clock)


def sessions_on(
    gateway: InMemoryRoomGateway,
    issuer: LiveKitTokenIssuer,
    store: SessionStore,
    clock: StoppedClock,
    recorder: SessionRecorder,
    metrics: PrometheusMetrics,
) -> VoiceSessions:
    return VoiceSessions(
        gateway, issuer, POLICY, store=store, clock=clock, recorder=recorder, metrics=metrics
    )


async def agent_comes_and_goes(
    sessions: VoiceSessions, gateway: InMemoryRoomGateway, clock: StoppedClock, room: str, identity: str
) -> None:
    """An agent joins, is seen by a status, and leaves with its webhooks lost."""
    gateway.join(room, identity, ParticipantKind.AGENT)
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.JOINED
    clock.advance(timedelta(seconds=1))
    gateway.leave(room, identity)
    clock.advance(timedelta(seconds=1))


def counted(metrics: PrometheusMetrics, name: str, trigger: str) -> float:
    return metrics.registry.get_sample_value(name, {"trigger": trigger}) or 0.0


async def test_rejoins_after_each_departure_dispatch_no_more_than_the_budget(
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: StoppedClock,
    recorder: SessionRecorder,
) -> None:
    metrics = PrometheusMetrics()
    sessions = sessions_on(
        gateway, token_issuer, InProcessSessionStore(clock=clock), clock, recorder, metrics
    )
    room = (await sessions.start(ALICE)).room_name
    for departure in range(5):
        await agent_comes_and_goes(sessions, gateway, clock, room, f"agent-{departure}")
        await sessions.rejoin(ALICE, room)

    assert len(gateway.dispatches_of(room)) == 1 + BUDGET
    journal = await recorder.journal.get(room)
    assert journal is not None
    assert (journal.dispatches, journal.rejoins) == (1 + BUDGET, 5)  # each dispatch sent, and only those
    assert counted(metrics, "voicecore_agent_redispatches_total", "rejoin") == BUDGET
    assert counted(metrics, "voicecore_agent_redispatch_budget_spent_total", "rejoin") == 5 - BUDGET


async def test_the_watchdog_and_rejoins_spend_one_budget(
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: StoppedClock,
    recorder: SessionRecorder,
) -> None:
    metrics, store = PrometheusMetrics(), InProcessSessionStore(clock=clock)
    sessions = sessions_on(gateway, token_issuer, store, clock, recorder, metrics)
    watchdog = AgentWatchdog(gateway, store, recorder, POLICY, clock=clock, metrics=metrics)
    room = (await sessions.start(ALICE)).room_name
    gateway.join(room, "alice")
    await store.note_participant(room, agent=False, joined=True, at=clock())
    clock.advance(timedelta(seconds=21))
    assert await watchdog.run_once() == [room]  # the agent never came: the watchdog spends one

    await agent_comes_and_goes(sessions, gateway, clock, room, "agent-1")
    await sessions.rejoin(ALICE, room)  # and a rejoin the other
    await agent_comes_and_goes(sessions, gateway, clock, room, "agent-2")
    await sessions.rejoin(ALICE, room)
    assert (await sessions.status(ALICE, room)).agent_state is AgentState.LEFT
    assert await watchdog.run_once() == []  # the user waits, the agent left: no budget left for it

    assert len(gateway.dispatches_of(room)) == 1 + BUDGET
    journal = await recorder.journal.get(room)
    assert journal is not None
    assert journal.dispatches == 1 + BUDGET
    assert counted(metrics, "voicecore_agent_redispatches_total", "watchdog") == 1
    assert counted(metrics, "voicecore_agent_redispatches_total", "rejoin") == 1
    assert counted(metrics, "voicecore_agent_redispatch_budget_spent_total", "rejoin") == 1
    assert counted(metrics, "voicecore_agent_redispatch_budget_spent_total", "watchdog") == 1


@pytest.fixture
async def two_replicas(
    empty_redis: LocalRedisServer, clock: StoppedClock
) -> AsyncIterator[list[SessionStore]]:
    stores = [RedisSessionStore(empty_redis.url, clock=clock) for _ in range(2)]
    for store in stores:
        await store.open()
    yield list(stores)
    for store in stores:
        await store.aclose()


async def test_replicas_on_one_redis_share_the_budget(
    two_replicas: list[SessionStore],
    gateway: InMemoryRoomGateway,
    token_issuer: LiveKitTokenIssuer,
    clock: StoppedClock,
    recorder: SessionRecorder,
) -> None:
    metrics = PrometheusMetrics()
    first, second = (
        sessions_on(gateway, token_issuer, store, clock, recorder, metrics) for store in two_replicas
    )
    room = (await first.start(ALICE)).room_name
    for departure, replica in enumerate([first, second, first, second, first]):
        await agent_comes_and_goes(replica, gateway, clock, room, f"agent-{departure}")
        await replica.rejoin(ALICE, room)
    assert len(gateway.dispatches_of(room)) == 1 + BUDGET
    journal = await recorder.journal.get(room)
    assert journal is not None
    assert journal.dispatches == 1 + BUDGET


# --- through the API, with the setting ----------------------------------------------------


@pytest.fixture
async def budgeted_client(memory_gateway: InMemoryRoomGateway) -> AsyncIterator[httpx.AsyncClient]:
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=memory_gateway,
        LIVEKIT_AGENT_NAME=AGENT_NAME,
        AGENT_REDISPATCH_LIMIT=str(BUDGET),
    )
    async with serving(container) as client:
        yield client


async def test_agent_redispatch_limit_bounds_the_rejoins_of_a_session(
    budgeted_client: httpx.AsyncClient, memory_gateway: InMemoryRoomGateway
) -> None:
    headers = auth_header("user-1")
    room = (await budgeted_client.post(BASE, json={}, headers=headers)).json()["room_name"]
    for departure in range(5):
        memory_gateway.join(room, f"agent-{departure}", ParticipantKind.AGENT)
        status = (await budgeted_client.get(session_path(room), headers=headers)).json()
        assert status["agent_state"] == "joined"
        memory_gateway.leave(room, f"agent-{departure}")
        rejoined = await budgeted_client.post(f"{session_path(room)}/token", headers=headers)
        assert rejoined.status_code == 200
    assert len(memory_gateway.dispatches_of(room)) == 1 + BUDGET
