"""Where a session's agent is: pending, joined, left or missing, from what LiveKit and the store know.

A pure derivation, so every rule is a property test away. Its inputs, and the
LiveKit facts behind each (docs/livekit.md, "Agent presence"):

- the participants now: an agent participant in the room is the only proof of
  presence (a dispatch's job stays "running" after its agent has gone);
- the webhook-fed record: when an agent joined and left, and when the user joined;
- the latest dispatch of the session's agent, by LiveKit's own dispatch state.

The join window runs from the later of the latest dispatch and the user's joining:
an agent dispatched before the user arrived has the whole window from when the
user starts waiting, and a dispatch sent after a miss or a departure gets its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from voicecore.core.ports import DispatchRecord, Participant, ParticipantKind
from voicecore.core.store import SessionRecord


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
    agent_joined_at: datetime | None = None  # the latest, from webhooks
    agent_left_at: datetime | None = None
    user_joined_at: datetime | None = None


def agent_state(facts: AgentFacts, join_timeout: timedelta) -> AgentState:
    """The session's agent state; see the module's docstring for the window."""
    if facts.agent_present:
        return AgentState.JOINED
    dispatched_since_left = (
        facts.latest_dispatch_at is not None
        and facts.agent_left_at is not None
        and facts.latest_dispatch_at > facts.agent_left_at
    )
    if facts.agent_joined_at is not None and not dispatched_since_left:
        return AgentState.LEFT
    if not facts.user_present:
        return AgentState.PENDING  # nobody is waiting for it yet
    starts = [t for t in (facts.latest_dispatch_at, facts.user_joined_at) if t is not None]
    if starts and facts.now - max(starts) > join_timeout:
        return AgentState.MISSING
    return AgentState.PENDING


def latest_dispatch_at(dispatches: Sequence[DispatchRecord], agent_name: str | None) -> datetime | None:
    """When the session's agent was last dispatched; LiveKit's automatic one has an empty name."""
    wanted = agent_name or ""
    times = [d.created_at for d in dispatches if d.agent_name == wanted]
    return max(times) if times else None


def agent_facts(
    now: datetime,
    participants: Sequence[Participant],
    record: SessionRecord | None,
    dispatches: Sequence[DispatchRecord],
    agent_name: str | None,
) -> AgentFacts:
    return AgentFacts(
        now=now,
        agent_present=any(p.kind is ParticipantKind.AGENT for p in participants),
        user_present=any(p.kind is ParticipantKind.STANDARD for p in participants),
        latest_dispatch_at=latest_dispatch_at(dispatches, agent_name),
        agent_joined_at=record.agent_joined_at if record else None,
        agent_left_at=record.agent_left_at if record else None,
        user_joined_at=record.user_joined_at if record else None,
    )
