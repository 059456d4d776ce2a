"""An in-memory RoomGateway for tests and local development, never production.

It models the LiveKit behaviour the core relies on, each proven against the real
server in tests/livekit/test_livekit_facts.py:
- creating a room whose name exists returns the existing room unchanged;
- listing participants of a missing room gives an empty list;
- deleting a missing room reports "did not exist";
- ``max_participants`` refuses a further non-agent joiner, agents are not counted;
- a room is created with its explicit agent dispatch, or else the server's automatic one
  (empty agent name); each ``dispatch_agent`` adds one more, never deduplicated;
- dispatch calls on a missing room fail (rooms are never auto-created).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from voicecore.core.domain import utc_now
from voicecore.core.errors import GatewayError
from voicecore.core.ports import (
    AgentDispatch,
    DispatchRecord,
    Participant,
    ParticipantKind,
    Room,
    RoomGateway,
    RoomSpec,
)


class RoomFull(Exception):
    """A non-agent joiner was refused because the room is at max_participants."""


@dataclass
class _StoredRoom:
    room: Room
    spec: RoomSpec
    participants: dict[str, ParticipantKind] = field(default_factory=dict)
    dispatches: list[DispatchRecord] = field(default_factory=list)


class InMemoryRoomGateway(RoomGateway):
    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._rooms: dict[str, _StoredRoom] = {}
        self._sids = itertools.count(1)
        self._failing: set[str] = set()
        self._clock = clock

    # --- RoomGateway --------------------------------------------------------

    async def create_room(self, spec: RoomSpec) -> Room:
        self._maybe_fail("create_room", spec.name)
        existing = self._rooms.get(spec.name)
        if existing is not None:
            return existing.room
        room = Room(name=spec.name, metadata=spec.metadata, sid=f"RM_mem{next(self._sids)}")
        explicit = spec.agent_dispatch or AgentDispatch(agent_name="", metadata="")
        dispatch = DispatchRecord(explicit.agent_name, explicit.metadata, self._clock(), finished=False)
        self._rooms[spec.name] = _StoredRoom(room=room, spec=spec, dispatches=[dispatch])
        return room

    async def get_room(self, name: str) -> Room | None:
        self._maybe_fail("get_room", name)
        stored = self._rooms.get(name)
        return stored.room if stored else None

    async def get_rooms(self, names: Sequence[str]) -> Sequence[Room]:
        self._maybe_fail("get_rooms", None)
        return [self._rooms[name].room for name in dict.fromkeys(names) if name in self._rooms]

    async def list_rooms(self) -> Sequence[Room]:
        self._maybe_fail("list_rooms", None)
        return [stored.room for stored in self._rooms.values()]

    async def list_participants(self, name: str) -> Sequence[Participant]:
        self._maybe_fail("list_participants", name)
        stored = self._rooms.get(name)
        if stored is None:
            return []
        return [Participant(identity=i, kind=k) for i, k in stored.participants.items()]

    async def delete_room(self, name: str) -> bool:
        self._maybe_fail("delete_room", name)
        return self._rooms.pop(name, None) is not None

    async def update_room_metadata(self, name: str, metadata: str) -> bool:
        self._maybe_fail("update_room_metadata", name)
        stored = self._rooms.get(name)
        if stored is None:
            return False
        stored.room = replace(stored.room, metadata=metadata)
        stored.spec = replace(stored.spec, metadata=metadata)
        return True

    async def list_agent_dispatches(self, name: str) -> Sequence[DispatchRecord]:
        self._maybe_fail("list_agent_dispatches", name)
        answer = list(self._existing("list_agent_dispatches", name).dispatches)
        # A real call suspends after the server answered: a concurrent caller may act
        # on the same room before this one acts on what it read.
        await asyncio.sleep(0)
        return answer

    async def dispatch_agent(self, name: str, dispatch: AgentDispatch) -> str:
        self._maybe_fail("dispatch_agent", name)
        stored = self._existing("dispatch_agent", name)
        stored.dispatches.append(
            DispatchRecord(dispatch.agent_name, dispatch.metadata, self._clock(), finished=False)
        )
        return f"AD_{name}_{len(stored.dispatches)}"

    async def ping(self) -> None:
        self._maybe_fail("ping", None)

    def _existing(self, operation: str, name: str) -> _StoredRoom:
        stored = self._rooms.get(name)
        if stored is None:
            raise GatewayError(operation, name, "the room does not exist")
        return stored

    # --- test and development controls --------------------------------------

    def join(self, room_name: str, identity: str, kind: ParticipantKind = ParticipantKind.STANDARD) -> None:
        """Simulate a participant joining, with LiveKit's admission rules."""
        stored = self._rooms[room_name]
        # Re-joining with the same identity replaces the earlier connection.
        counted = [
            i for i, k in stored.participants.items() if k is not ParticipantKind.AGENT and i != identity
        ]
        limit = stored.spec.max_participants  # 0 means unlimited, as in LiveKit
        if kind is not ParticipantKind.AGENT and limit and len(counted) >= limit:
            raise RoomFull(room_name)
        stored.participants[identity] = kind

    def leave(self, room_name: str, identity: str) -> None:
        self._rooms[room_name].participants.pop(identity, None)

    def put_room(self, name: str, metadata: str) -> Room:
        """A room created by someone other than voicecore, with any metadata."""
        spec = RoomSpec(name=name, metadata=metadata, empty_timeout_seconds=300, max_participants=0)
        room = Room(name=name, metadata=metadata, sid=f"RM_mem{next(self._sids)}")
        self._rooms[name] = _StoredRoom(room=room, spec=spec)
        return room

    def spec_of(self, room_name: str) -> RoomSpec:
        return self._rooms[room_name].spec

    def dispatches_of(self, room_name: str) -> list[DispatchRecord]:
        return list(self._rooms[room_name].dispatches)

    def assign_dispatches(self, room_name: str, at: datetime) -> None:
        """A worker took the job of every dispatch of the room not yet taken, at ``at``."""
        stored = self._rooms[room_name]
        stored.dispatches = [d if d.assigned_at else replace(d, assigned_at=at) for d in stored.dispatches]

    def finish_dispatches(self, room_name: str) -> None:
        """Every dispatch of the room has had its job end (the agent's worker said so)."""
        stored = self._rooms[room_name]
        stored.dispatches = [replace(d, finished=True) for d in stored.dispatches]

    @property
    def room_names(self) -> frozenset[str]:
        return frozenset(self._rooms)

    def fail(self, *operations: str) -> None:
        """Make these operations raise GatewayError until ``recover``."""
        self._failing.update(operations)

    def recover(self) -> None:
        self._failing.clear()

    def _maybe_fail(self, operation: str, room_name: str | None) -> None:
        if operation in self._failing:
            raise GatewayError(operation, room_name, "simulated outage")
