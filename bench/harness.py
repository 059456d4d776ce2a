"""What every phase works with: the plan, LiveKit, the clients of each service, the rooms made.

A phase is a module in ``bench.phases`` with one entry function, a ``Phase``: given the
``Harness``, it measures and returns its block of the results JSON (``bench.run`` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit import api

from bench.clients import ApiUser, bearer, http_client
from bench.cpu import CpuMeter
from bench.direct import DirectBackend, delete_rooms
from bench.loops import Between, Operation, interleaved_latency
from bench.plan import Plan
from bench.progress import progress
from bench.targets import LiveKitAccess, Settings

# After deleting rooms, LiveKit goes on closing them for a moment: untimed, let it.
SETTLE_SECONDS = 0.25
# Room names this benchmark makes: its users' sessions and the other users' rooms of the list phase.
BENCH_ROOM_PREFIXES = ("fitness-voice-bench-", "fitness-voice-member-")


class Rooms:
    """Every room name the benchmark made, so it can delete them all."""

    def __init__(self, lk: api.LiveKitAPI) -> None:
        self._lk = lk
        self.made: set[str] = set()
        self.deleted = 0

    async def delete(self, names: set[str] | None = None) -> None:
        doomed = set(self.made) if names is None else names
        self.deleted += await delete_rooms(self._lk, doomed)
        self.made -= doomed

    async def delete_and_settle(self) -> None:
        await self.delete()
        await asyncio.sleep(SETTLE_SECONDS)

    async def delete_leftovers(self) -> dict[str, int]:
        """Delete what is left, by name, and anything a crash mid-phase left behind, by shape."""
        await self.delete()
        listed = (await self._lk.room.list_rooms(api.ListRoomsRequest())).rooms
        leftovers = {r.name for r in listed if r.name.startswith(BENCH_ROOM_PREFIXES)}
        if leftovers:
            self.deleted += await delete_rooms(self._lk, leftovers)
        remaining = len((await self._lk.room.list_rooms(api.ListRoomsRequest())).rooms)
        progress(f"clean-up: deleted {self.deleted} rooms, {remaining} left in LiveKit")
        return {"rooms_deleted": self.deleted, "rooms_left_in_livekit": remaining}


@contextlib.asynccontextmanager
async def livekit_client(livekit: LiveKitAccess) -> AsyncIterator[api.LiveKitAPI]:
    lk = api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret)
    try:
        yield lk
    finally:
        await lk.aclose()


@dataclass
class Harness:
    plan: Plan
    livekit: LiveKitAccess
    auth_secret: str
    lk: api.LiveKitAPI
    meter: CpuMeter
    stack: contextlib.AsyncExitStack  # closes every client a phase opens, at the end of the run
    settings: Settings  # for the services a phase starts of its own
    out: Path  # the results JSON: service logs and plots go beside it
    rooms: Rooms = field(init=False)
    direct: DirectBackend = field(init=False)
    users: dict[str, ApiUser] = field(default_factory=dict)  # one client per service
    pools: dict[str, list[ApiUser]] = field(default_factory=dict)  # one client per concurrent worker

    def __post_init__(self) -> None:
        self.rooms = Rooms(self.lk)
        self.direct = DirectBackend(self.lk, self.livekit.api_key, self.livekit.api_secret)

    async def user(self, name: str, base_url: str, user_id: str) -> ApiUser:
        """A keep-alive client of the service at ``base_url``, signed in as ``user_id``."""
        client = await self.stack.enter_async_context(
            http_client(base_url, bearer(user_id, self.auth_secret))
        )
        return ApiUser(name, client, user_id)

    async def add_service(self, name: str, base_url: str, user_id: str) -> None:
        self.users[name] = await self.user(name, base_url, user_id)
        self.pools[name] = [await self.user(name, base_url, user_id) for _ in range(self.plan.in_flight)]

    @property
    def log_dir(self) -> Path:
        return self.out.parent

    def plot_path(self, figure: str) -> Path:
        return self.out.with_name(f"{self.out.stem}-{figure}.png")

    async def sample(
        self,
        operations: Mapping[str, Operation],
        *,
        rounds: int | None = None,
        block: int | None = None,
        between_rounds: Between | None = None,
        cpu: dict[str, dict[str, float]] | None = None,
    ) -> dict[str, list[float]]:
        """Interleaved latency rounds over ``operations`` (the plan's latency rounds unless told).

        Given ``cpu``, each process's CPU time per operation is added up in it.
        """
        return await interleaved_latency(
            operations,
            rounds=self.plan.latency_rounds if rounds is None else rounds,
            block=self.plan.latency_block if block is None else block,
            warmup_rounds=self.plan.warmup_rounds,
            between_rounds=between_rounds,
            meter=self.meter if cpu is not None else None,
            cpu=cpu,
        )


Phase = Callable[[Harness], Awaitable[dict[str, Any]]]
