"""Where a session's agent is: pending, joined, left or missing, from what LiveKit and the store know.

A pure derivation, so every rule is a property test away. Its inputs, and the
LiveKit facts behind each (docs/livekit.md, "Agent presence"):

- the participants now: an agent participant in the room is the only proof of
  presence (a dispatch's job stays "running" after its agent has gone);
- the webhook-fed record: when an agent joined and left, and when the user joined;
- the latest dispatch of the session's agent, by LiveKit's own dispatch state.

An agent's webhooks can arrive late (seen: a minute after the agent left), so
LiveKit's dispatch state also says an agent came: a job of the latest dispatch
assigned more than ``ASSIGNED_SETTLE`` ago names an agent participant, and an
agent that is not in the room by then has been and gone (it joins within a
second of assignment, docs/livekit.md).

The join window runs from the later of the latest dispatch and the user's joining:
an agent dispatched before the user arrived has the whole window from when the
user starts waiting, and a dispatch sent after a miss or a departure gets its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from voicecore.core.ports import DispatchRecord, Participant, ParticipantKind
from voicecore.core.store import SessionRecord

ASSIGNED_SETTLE: Final = timedelta(seconds=5)


class AgentState(StrEnum):
    PENDING = "pending"  # dispatched, not joined yet, within the join window (or nobody is waiting)
    JOINED = "joined"  # an agent is in the room now
    LEFT = "left"  # an agent was in the room and is gone, and none is on its way
    MISSING = "missing"  # a user has waited longer than the join window and no agent came


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """Everything the state is derived from; all times aware."""

    now: datetime
    agent_present: bool
    user_present: bool
    latest_dispatch_at: datetime | None  # of the session's agent; None: none known
    latest_dispatch_assigned_at: datetime | None = None  # a worker took its job
    agent_joined_at: datetime | None = None  # the latest, from webhooks
    agent_left_at: datetime | None = None
    user_joined_at: datetime | None = None


def agent_state(facts: AgentFacts, join_timeout: timedelta) -> AgentState:
    """The session's agent state; see the module's docstring for the window."""
    if facts.agent_present:
        return AgentState.JOINED
    assigned = facts.latest_dispatch_assigned_at
    came = [t for t in (facts.agent_joined_at, facts.agent_left_at) if t is not None]
    if assigned is not None and facts.now - assigned > ASSIGNED_SETTLE:
        return AgentState.LEFT  # the latest dispatch's agent came, and is not here
    last_seen = max(came) if came else None
    dispatched_since = (
        facts.latest_dispatch_at is not None
        and last_seen is not None
        and facts.latest_dispatch_at > last_seen
    )
    if last_seen is not None and not dispatched_since:
        return AgentState.LEFT
    if not facts.user_present:
        return AgentState.PENDING  # nobody is waiting for it yet
    starts = [t for t in (facts.latest_dispatch_at, facts.user_joined_at) if t is not None]
    if starts and facts.now - max(starts) > join_timeout:
        return AgentState.MISSING
    return AgentState.PENDING


def latest_dispatch(dispatches: Sequence[DispatchRecord], agent_name: str | None) -> DispatchRecord | None:
    """The session's agent's latest dispatch; LiveKit's automatic one has an empty name."""
    wanted = agent_name or ""
    return max((d for d in dispatches if d.agent_name == wanted), key=lambda d: d.created_at, default=None)


def agent_facts(
    now: datetime,
    participants: Sequence[Participant],
    record: SessionRecord | None,
    dispatches: Sequence[DispatchRecord],
    agent_name: str | None,
) -> AgentFacts:
    latest = latest_dispatch(dispatches, agent_name)
    return AgentFacts(
        now=now,
        agent_present=any(p.kind is ParticipantKind.AGENT for p in participants),
        user_present=any(p.kind is ParticipantKind.STANDARD for p in participants),
        latest_dispatch_at=latest.created_at if latest else None,
        latest_dispatch_assigned_at=latest.assigned_at if latest else None,
        agent_joined_at=record.agent_joined_at if record else None,
        agent_left_at=record.agent_left_at if record else None,
        user_joined_at=record.user_joined_at if record else None,
    )
