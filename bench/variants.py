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
from pathlib import Path
from typing import Any

from bench.clients import ApiUser
from bench.cpu import CpuMeter
from bench.harness import SETTLE_SECONDS, Harness
from bench.loops import Burst, SlotOperation, burst, interleaved_latency
from bench.service import ServiceProcess, running
from bench.stats import burst_summary
from bench.targets import Settings, Target

Samples = dict[str, list[float]]
CpuByVariant = dict[str, dict[str, float]]


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

    def creates(self, name: str) -> SlotOperation:
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

    async def latency(
        self, names: Sequence[str]
    ) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
        """Interleaved create latency of ``names``, and each process's CPU seconds per variant."""

        def create(user: ApiUser) -> Any:
            async def op() -> None:
                self._made(user.name, await user.create())

            return op

        cpu: dict[str, dict[str, float]] = {}
        samples = await interleaved_latency(
            {name: create(self.users[name]) for name in names},
            rounds=self.h.plan.latency_rounds,
            block=self.h.plan.latency_block,
            warmup_rounds=self.h.plan.warmup_rounds,
            between_rounds=self.end_all,
            meter=self.meter,
            cpu=cpu,
        )
        return samples, cpu

    async def bursts(self, names: Sequence[str], *, count: int, rounds: int) -> dict[str, Any]:
        """Fixed-count bursts of creates with the plan's in-flight, in ABBA order; each one's summary."""
        plan = self.h.plan
        for name in names:
            await burst(self.creates(name), count=plan.warmup_burst, in_flight=plan.in_flight)
            await self.end_all()
        done: dict[str, list[Burst]] = {name: [] for name in names}
        cpu = {name: dict.fromkeys(self.meter.pids, 0.0) for name in names}
        for round_index in range(rounds):
            for name in names if round_index % 2 == 0 else reversed(names):
                before = self.meter.snapshot()
                done[name].append(await burst(self.creates(name), count=count, in_flight=plan.in_flight))
                for process, used in self.meter.since(before).items():
                    cpu[name][process] += used
                await self.end_all()
        return {name: burst_summary(b, cpu[name]) for name, b in done.items()}


@contextlib.asynccontextmanager
async def serving_variants(
    h: Harness, targets: Sequence[Target], settings: Settings, log_dir: Path
) -> AsyncIterator[Variants]:
    services = [
        ServiceProcess(t.name, settings(t, h.livekit), log_dir / f"service-{t.name}.log", t.module)
        for t in targets
    ]
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
            await asyncio.sleep(0)
