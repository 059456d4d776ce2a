"""The agent-state derivation: its rules as properties over any facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from voicecore.core.agents import AgentFacts, agent_state
from voicecore.core.domain import AgentState

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=20)

moments = st.integers(min_value=0, max_value=600).map(lambda s: NOON + timedelta(seconds=s))
maybe_moments = st.none() | moments


@st.composite
def facts(draw: st.DrawFn) -> AgentFacts:
    return AgentFacts(
        now=NOON + timedelta(seconds=draw(st.integers(min_value=0, max_value=700))),
        agent_present=draw(st.booleans()),
        user_present=draw(st.booleans()),
        latest_dispatch_at=draw(maybe_moments),
        agent_joined_at=draw(maybe_moments),
        agent_left_at=draw(maybe_moments),
        user_joined_at=draw(maybe_moments),
    )


def _with(f: AgentFacts, **changes: object) -> AgentFacts:
    values = {name: getattr(f, name) for name in AgentFacts.__slots__}  # type: ignore[attr-defined]
    return AgentFacts(**{**values, **changes})  # type: ignore[arg-type]


@given(facts())
def test_an_agent_in_the_room_is_joined_whatever_the_history(f: AgentFacts) -> None:
    assert agent_state(_with(f, agent_present=True), TIMEOUT) is AgentState.JOINED
    assert agent_state(f, TIMEOUT) is not AgentState.JOINED or f.agent_present


@given(facts())
def test_missing_only_when_a_user_has_waited_past_the_window(f: AgentFacts) -> None:
    if agent_state(f, TIMEOUT) is AgentState.MISSING:
        starts = [t for t in (f.latest_dispatch_at, f.user_joined_at) if t is not None]
        assert f.user_present
        assert not f.agent_present
        assert starts
        assert f.now - max(starts) > TIMEOUT


@given(facts())
def test_nobody_waiting_is_never_missing(f: AgentFacts) -> None:
    assert agent_state(_with(f, user_present=False), TIMEOUT) is not AgentState.MISSING


@given(facts(), st.integers(min_value=0, max_value=1000))
def test_waiting_longer_never_makes_a_miss_better(f: AgentFacts, later_seconds: int) -> None:
    if agent_state(f, TIMEOUT) is AgentState.MISSING:
        later = _with(f, now=f.now + timedelta(seconds=later_seconds))
        assert agent_state(later, TIMEOUT) is AgentState.MISSING


@given(facts())
def test_an_agent_that_came_and_went_is_left_until_another_is_dispatched(f: AgentFacts) -> None:
    gone = _with(f, agent_present=False, agent_joined_at=NOON, agent_left_at=NOON + timedelta(seconds=1))
    if gone.latest_dispatch_at is None or gone.latest_dispatch_at <= NOON + timedelta(seconds=1):
        assert agent_state(gone, TIMEOUT) is AgentState.LEFT
    else:
        assert agent_state(gone, TIMEOUT) in (AgentState.PENDING, AgentState.MISSING)


@given(facts(), st.integers(min_value=0, max_value=20))
def test_a_fresh_dispatch_after_a_departure_is_pending_within_the_window(f: AgentFacts, age: int) -> None:
    now = NOON + timedelta(seconds=100)
    redispatched = _with(
        f,
        now=now,
        agent_present=False,
        agent_joined_at=NOON,
        agent_left_at=NOON + timedelta(seconds=50),
        latest_dispatch_at=now - timedelta(seconds=age),
        user_joined_at=NOON,
    )
    assert agent_state(redispatched, TIMEOUT) is AgentState.PENDING


@given(st.integers(min_value=0, max_value=60), st.booleans())
def test_the_window_runs_from_the_later_of_dispatch_and_user_joining(waited: int, user_first: bool) -> None:
    dispatch, user = (
        (NOON + timedelta(seconds=5), NOON) if user_first else (NOON, NOON + timedelta(seconds=5))
    )
    f = AgentFacts(
        now=NOON + timedelta(seconds=5 + waited),
        agent_present=False,
        user_present=True,
        latest_dispatch_at=dispatch,
        user_joined_at=user,
    )
    expected = AgentState.MISSING if waited > TIMEOUT.total_seconds() else AgentState.PENDING
    assert agent_state(f, TIMEOUT) is expected
