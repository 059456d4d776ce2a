"""Variants of the service served for one phase only: the same service with different settings.

A phase that compares settings (guardrails on and off, edge limits on and off)
starts its own ``python -m voicecore_http`` processes, measures them against each
other in the same run, interleaved, and stops them; the other phases never see them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.clients import ApiUser
from bench.cpu import CpuMeter
from bench.harness import SETTLE_SECONDS, Harness
from bench.loops import Operation, SlotOperation, abba_bursts
from bench.service import running, target_process
from bench.stats import burst_summary
from bench.targets import Target


@dataclass
class Variants:
    """The served variants: a client and a pool of clients each, and a meter of their CPU."""

    h: Harness
    users: dict[str, ApiUser]
    pools: dict[str, list[ApiUser]]
    meter: CpuMeter
    made: dict[str, set[str]] = field(default_factory=dict)

    def _made(self, name: str, room: str) -> None:
        self.h.rooms.made.add(room)  # deleted at the end whatever happens
        self.made.setdefault(name, set()).add(room)

    def _create(self, user: ApiUser) -> Operation:
        async def op() -> None:
            self._made(user.name, await user.create())

        return op

    def _creates(self, name: str) -> SlotOperation:
        async def op(slot: int) -> None:
            self._made(name, await self.pools[name][slot].create())

        return op

    async def end_all(self) -> None:
        """End every session made so far through its service, untimed, as its users would.

        Deleting rooms behind a service's back would leave them indexed (and, with the
        guardrails on, holding slots) until the index noticed.
        """
        for name, rooms in self.made.items():
            pool, pending = self.pools[name], sorted(rooms)

            async def worker(user: ApiUser, share: list[str]) -> None:
                for room in share:
                    await user.end(room)

            await asyncio.gather(*(worker(u, pending[i :: len(pool)]) for i, u in enumerate(pool)))
            self.h.rooms.made -= rooms
            rooms.clear()
        await asyncio.sleep(SETTLE_SECONDS)

    async def latency(self, names: Sequence[str]) -> dict[str, list[float]]:
        """Interleaved create latency of ``names``, one request at a time."""
        return await self.h.sample(
            {name: self._create(self.users[name]) for name in names}, between_rounds=self.end_all
        )

    async def bursts(self, names: Sequence[str], *, count: int, rounds: int) -> dict[str, Any]:
        """Fixed-count bursts of creates with the plan's in-flight, in ABBA order; each one's summary."""
        sides = await abba_bursts(
            {name: self._creates(name) for name in names},
            count=count,
            rounds=rounds,
            in_flight=self.h.plan.in_flight,
            warmup=self.h.plan.warmup_burst,
            meter=self.meter,
            between=self.end_all,
        )
        return {name: burst_summary(*side) for name, side in sides.items()}


@contextlib.asynccontextmanager
async def serving_variants(h: Harness, targets: Sequence[Target]) -> AsyncIterator[Variants]:
    services = [target_process(t, h.settings(t, h.livekit), h.log_dir) for t in targets]
    with running(services):  # started and ready; stopped on the way out
        users: dict[str, ApiUser] = {}
        pools: dict[str, list[ApiUser]] = {}
        for target, service in zip(targets, services, strict=True):
            users[target.name] = await h.user(target.name, service.base_url, target.user_id)
            pools[target.name] = [
                await h.user(target.name, service.base_url, target.user_id) for _ in range(h.plan.in_flight)
            ]
        pids = {s.name: s.pid for s in services if s.pid} | {
            name: pid for name, pid in h.meter.pids.items() if name in ("livekit-server", "redis-server")
        }
        try:
            yield Variants(h, users, pools, CpuMeter(pids))
        finally:
            await h.rooms.delete_and_settle()
