"""LiveKit API calls per operation (create, status, list, end), counted by a loopback proxy.

Each counted side reaches LiveKit only through a proxy of its own that records the
Twirp method of every request (tests/support/fault_proxy.py, always passing). The
service sides are extra ``python -m voicecore_http`` processes, one per store mode,
whose LIVEKIT_URL is their proxy; the direct side is a ``LiveKitAPI`` on its own
proxy. Nothing here is timed: the proxy adds a hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bench.clients import ApiUser, bearer, http_client
from bench.direct import DirectBackend
from bench.harness import Harness, livekit_client
from bench.progress import progress
from bench.service import target_process
from bench.targets import LiveKitAccess, Settings, Target, counted_targets
from tests.support.fault_proxy import FaultProxy

OPERATIONS = ("create", "status", "list", "end")
# Calls an operation sets off in the background still count as its own: wait for them, untimed.
SETTLE_SECONDS = 0.05

T = TypeVar("T")


@dataclass
class CallCounter:
    proxy: FaultProxy

    def mark(self) -> int:
        return len(self.proxy.seen)

    def since(self, mark: int) -> Counter[str]:
        return Counter(method for method, _ in self.proxy.seen[mark:])


@contextlib.asynccontextmanager
async def counting_proxy(livekit: LiveKitAccess) -> AsyncIterator[tuple[LiveKitAccess, CallCounter]]:
    """A proxy in front of ``livekit``'s HTTP port; what to give a client so it goes through it."""
    port = urlsplit(livekit.url).port
    if port is None:
        raise ValueError(f"{livekit.url} names no port")
    proxy = FaultProxy(upstream_port=port)
    await proxy.start()
    try:
        yield replace(livekit, url=proxy.url), CallCounter(proxy)
    finally:
        await proxy.aclose()


@dataclass
class CountedSide:
    name: str
    counter: CallCounter
    create: Callable[[], Awaitable[str]]
    status: Callable[[str], Awaitable[object]]
    list: Callable[[], Awaitable[object]]
    end: Callable[[str], Awaitable[object]]


async def _counted(
    side: CountedSide, calls: dict[str, list[Counter[str]]], operation: str, call: Awaitable[T]
) -> T:
    mark = side.counter.mark()
    result = await call
    await asyncio.sleep(SETTLE_SECONDS)
    calls[operation].append(side.counter.since(mark))
    return result


async def count_side(side: CountedSide, *, rounds: int, owned_rooms: int) -> dict[str, Any]:
    """Per round: ``owned_rooms`` creates, a status, a list, then an end of each room."""
    calls: dict[str, list[Counter[str]]] = {operation: [] for operation in OPERATIONS}
    for _ in range(rounds):
        rooms = [await _counted(side, calls, "create", side.create()) for _ in range(owned_rooms)]
        await _counted(side, calls, "status", side.status(rooms[0]))
        await _counted(side, calls, "list", side.list())
        for room in rooms:
            await _counted(side, calls, "end", side.end(room))
    return {operation: _summary(samples) for operation, samples in calls.items()}


def _summary(samples: Sequence[Counter[str]]) -> dict[str, Any]:
    """The median number of calls per request, overall and by Twirp method, and the spread."""
    totals = [sum(sample.values()) for sample in samples]
    methods = sorted({method for sample in samples for method in sample})
    return {
        "requests": len(samples),
        "calls_median": statistics.median(totals),
        "calls_min": min(totals),
        "calls_max": max(totals),
        "by_method_median": {m: statistics.median(sample[m] for sample in samples) for m in methods},
    }


@contextlib.asynccontextmanager
async def service_side(
    livekit: LiveKitAccess, target: Target, settings: Settings, *, auth_secret: str, log_dir: Path
) -> AsyncIterator[CountedSide]:
    """The target served in a subprocess whose LiveKit is behind a counting proxy; its user's operations."""
    async with counting_proxy(livekit) as (through_proxy, counter):
        service = target_process(target, settings(target, through_proxy), log_dir)
        service.start()
        try:
            await asyncio.to_thread(service.wait_ready)
            async with http_client(service.base_url, bearer(target.user_id, auth_secret)) as client:
                user = ApiUser(target.name, client, target.user_id)
                yield CountedSide(
                    target.name, counter, user.create, user.status, user.list_sessions, user.end
                )
        finally:
            await asyncio.to_thread(service.stop)


@contextlib.asynccontextmanager
async def direct_side(livekit: LiveKitAccess, user_id: str) -> AsyncIterator[CountedSide]:
    """A hand-written backend's operations on a ``LiveKitAPI`` behind a counting proxy."""
    async with counting_proxy(livekit) as (through_proxy, counter), livekit_client(through_proxy) as lk:
        direct = DirectBackend(lk, through_proxy.api_key, through_proxy.api_secret)

        async def create() -> str:
            return (await direct.create(user_id))[0]

        yield CountedSide(
            "direct",
            counter,
            create,
            lambda room: direct.status(user_id, room),
            lambda: direct.list_sessions(user_id),
            lambda room: direct.end(user_id, room),
        )


async def calls_phase(h: Harness) -> dict[str, Any]:
    """Calls per operation for the service in each store mode (started here, behind proxies) and direct."""
    plan, targets = h.plan, counted_targets()
    progress(
        f"LiveKit calls per operation: {plan.call_rounds} rounds of {plan.owned_rooms} creates, a status, "
        f"a list and {plan.owned_rooms} ends, for {', '.join(t.name for t in targets)} and direct"
    )
    sides = [
        service_side(h.livekit, target, h.settings, auth_secret=h.auth_secret, log_dir=h.log_dir)
        for target in targets
    ]
    out: dict[str, Any] = {"owned_rooms_when_listing": plan.owned_rooms, "sides": {}}
    for counted in [*sides, direct_side(h.livekit, "bench-calls-direct")]:
        async with counted as side:
            out["sides"][side.name] = await count_side(
                side, rounds=plan.call_rounds, owned_rooms=plan.owned_rooms
            )
    return out
