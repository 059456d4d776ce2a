"""What the core needs from the outside world: a room service and a token issuer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from voicecore.core.domain import User


@dataclass(frozen=True, slots=True)
class AgentDispatch:
    """An explicit dispatch of a named agent: with the room's creation, or into a room that exists."""

    agent_name: str
    metadata: str


@dataclass(frozen=True, slots=True)
class DispatchRecord:
    """A dispatch the room service holds for a room, as it reports it.

    ``finished`` is true once every job of the dispatch has ended. A job the server
    reports as running may belong to an agent that has already left (LiveKit never
    updates it), so only the room's participants say who is there.
    """

    agent_name: str
    metadata: str
    created_at: datetime  # aware, UTC, by the room service's clock
    finished: bool
    # When a worker took the first of its jobs and named the agent participant; None before.
    assigned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoomSpec:
    name: str
    metadata: str
    empty_timeout_seconds: int
    max_participants: int
    agent_dispatch: AgentDispatch | None = None
    # How long the room survives its last participant leaving; 0 keeps the service's default.
    departure_timeout_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Room:
    name: str
    metadata: str
    sid: str = ""


class ParticipantKind(StrEnum):
    STANDARD = "standard"
    AGENT = "agent"
    INGRESS = "ingress"
    EGRESS = "egress"
    SIP = "sip"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Participant:
    identity: str
    kind: ParticipantKind


@runtime_checkable
class RoomGateway(Protocol):
    """A room service with LiveKit's semantics (see docs/livekit.md).

    Every method raises ``GatewayError`` when the service fails and nothing else.
    """

    async def create_room(self, spec: RoomSpec) -> Room:
        """Create the room, or return the existing room of that name *unchanged*."""
        ...

    async def get_room(self, name: str) -> Room | None:
        """The room of exactly this name, or None."""
        ...

    async def get_rooms(self, names: Sequence[str]) -> Sequence[Room]:
        """The rooms of these exact names that exist, in one call; unknown names are left out."""
        ...

    async def list_rooms(self) -> Sequence[Room]:
        """Every room on the server: the reconciliation scan, never a request's path."""
        ...

    async def list_participants(self, name: str) -> Sequence[Participant]:
        """Everyone in the room, agents included; empty for a missing room."""
        ...

    async def delete_room(self, name: str) -> bool:
        """True if the room was deleted, False if it did not exist."""
        ...

    async def update_room_metadata(self, name: str, metadata: str) -> bool:
        """Replace the room's metadata (participants are told); False if the room does not exist."""
        ...

    async def list_agent_dispatches(self, name: str) -> Sequence[DispatchRecord]:
        """The room's agent dispatches, the service's own automatic one included."""
        ...

    async def dispatch_agent(self, name: str, dispatch: AgentDispatch) -> str:
        """Send an agent into the existing room ``name``, returning the dispatch's id.

        Each call dispatches one more agent.
        """
        ...

    async def ping(self) -> None:
        """Return if the room service answers; raise GatewayError if not."""
        ...


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A join token and the server it is good for: what a client needs to connect."""

    token: str
    expires_at: datetime
    server_url: str


@runtime_checkable
class TokenIssuer(Protocol):
    """Signs join tokens for one LiveKit server."""

    def issue(self, user: User, room_name: str, ttl: timedelta) -> IssuedToken:
        """A join token for exactly ``room_name``, as ``user``."""
        ...
