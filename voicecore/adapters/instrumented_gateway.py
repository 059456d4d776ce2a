"""A room gateway that times every LiveKit call and counts its failures, around any other gateway.

One wrapper for every operation, so the adapter's translation point stays the only
place that knows LiveKit's errors; whatever a call raises is a failed request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from voicecore.core.metrics import Metrics
from voicecore.core.ports import AgentDispatch, DispatchRecord, Participant, Room, RoomGateway, RoomSpec

T = TypeVar("T")


class InstrumentedRoomGateway(RoomGateway):
    def __init__(self, inner: RoomGateway, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def _timed(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            result = await call()
        except Exception:  # a cancelled call is not LiveKit failing
            self._metrics.livekit_request(operation, time.perf_counter() - started, failed=True)
            raise
        self._metrics.livekit_request(operation, time.perf_counter() - started, failed=False)
        return result

    async def create_room(self, spec: RoomSpec) -> Room:
        return await self._timed("create_room", lambda: self._inner.create_room(spec))

    async def get_room(self, name: str) -> Room | None:
        return await self._timed("get_room", lambda: self._inner.get_room(name))

    async def get_rooms(self, names: Sequence[str]) -> Sequence[Room]:
        return await self._timed("get_rooms", lambda: self._inner.get_rooms(names))

    async def list_rooms(self) -> Sequence[Room]:
        return await self._timed("list_rooms", self._inner.list_rooms)

    async def list_participants(self, name: str) -> Sequence[Participant]:
        return await self._timed("list_participants", lambda: self._inner.list_participants(name))

    async def delete_room(self, name: str) -> bool:
        return await self._timed("delete_room", lambda: self._inner.delete_room(name))

    async def update_room_metadata(self, name: str, metadata: str) -> bool:
        return await self._timed(
            "update_room_metadata", lambda: self._inner.update_room_metadata(name, metadata)
        )

    async def list_agent_dispatches(self, name: str) -> Sequence[DispatchRecord]:
        return await self._timed("list_agent_dispatches", lambda: self._inner.list_agent_dispatches(name))

    async def dispatch_agent(self, name: str, dispatch: AgentDispatch) -> str:
        return await self._timed("dispatch_agent", lambda: self._inner.dispatch_agent(name, dispatch))

    async def ping(self) -> None:
        await self._timed("ping", self._inner.ping)
