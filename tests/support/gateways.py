"""Doubles of the room gateway: the in-memory one, made to behave like a network call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from voicecore.core.ports import Room, RoomSpec
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway


class YieldingGateway(InMemoryRoomGateway):
    """The in-memory gateway, suspending around each call as a real one does over the network.

    Without it, concurrent creates on the in-process store would run one after the
    other, and a state machine's concurrent steps would race nothing.
    """

    async def create_room(self, spec: RoomSpec) -> Room:
        await asyncio.sleep(0)
        room = await super().create_room(spec)
        await asyncio.sleep(0)
        return room

    async def get_rooms(self, names: Sequence[str]) -> Sequence[Room]:
        await asyncio.sleep(0)
        return await super().get_rooms(names)

    async def delete_room(self, name: str) -> bool:
        await asyncio.sleep(0)
        return await super().delete_room(name)


class HeldGateway(InMemoryRoomGateway):
    """Creates wait until the test lets them go: a first request that is still creating."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def create_room(self, spec: RoomSpec) -> Room:
        self.entered.set()
        await self.release.wait()
        return await super().create_room(spec)
