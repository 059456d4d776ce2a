"""Measurement loops: interleaved latency rounds, and fixed-count concurrent bursts taken ABBA."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.cpu import CpuMeter

Operation = Callable[[], Awaitable[object]]
SlotOperation = Callable[[int], Awaitable[object]]  # given the worker's slot number
Between = Callable[[], Awaitable[None]]


def rotated(names: Sequence[str], by: int) -> list[str]:
    k = by % len(names)
    return [*names[k:], *names[:k]]


async def interleaved_latency(
    operations: Mapping[str, Operation],
    *,
    rounds: int,
    block: int,
    warmup_rounds: int,
    between_rounds: Between | None = None,
    meter: CpuMeter | None = None,
    cpu: dict[str, dict[str, float]] | None = None,
) -> dict[str, list[float]]:
    """Rounds of ``block`` back-to-back samples per operation, one at a time.

    The operations take turns (ABAB blocks), and the order rotates every round,
    so drift of the machine and order effects fall on every side alike. The
    first ``warmup_rounds`` rounds are discarded. ``between_rounds`` (room
    clean-up) runs outside the timed sections. Given a ``meter`` and a ``cpu`` dict,
    the CPU time each process spent during each operation's measured blocks is
    added up in ``cpu[operation][process]``.
    """
    names = list(operations)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup_rounds + rounds):
        for name in rotated(names, round_index):
            operation = operations[name]
            measured = round_index >= warmup_rounds
            before = meter.snapshot() if meter is not None and measured else None
            for _ in range(block):
                started = time.perf_counter()
                await operation()
                elapsed = time.perf_counter() - started
                if measured:
                    samples[name].append(elapsed)
            if before is not None and meter is not None and cpu is not None:
                totals = cpu.setdefault(name, dict.fromkeys(meter.pids, 0.0))
                for process, used in meter.since(before).items():
                    totals[process] += used
        if between_rounds is not None:
            await between_rounds()
    return samples


@dataclass
class Burst:
    requests: int
    seconds: float
    latencies: list[float] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def burst(operation: SlotOperation, *, count: int, in_flight: int) -> Burst:
    """``count`` operations with ``in_flight`` running at once; wall time from first start to last end.

    Each of the ``in_flight`` workers passes its slot number, so it can use a
    client of its own.
    """
    remaining = count
    latencies: list[float] = []

    async def worker(slot: int) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await operation(slot)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(slot) for slot in range(in_flight)))
    return Burst(requests=count, seconds=time.perf_counter() - started, latencies=latencies)


async def abba_bursts(
    operations: Mapping[str, SlotOperation],
    *,
    count: int,
    rounds: int,
    in_flight: int,
    warmup: int,
    meter: CpuMeter,
    between: Between,
) -> dict[str, tuple[list[Burst], dict[str, float]]]:
    """A warm-up burst per side, then ``rounds`` bursts of ``count`` per side in ABBA order.

    ``between`` (room clean-up) runs after every burst, untimed. Each side's bursts,
    and the CPU seconds each of ``meter``'s processes spent during them.
    """
    names = list(operations)
    for name in names:
        await burst(operations[name], count=warmup, in_flight=in_flight)
        await between()
    done: dict[str, list[Burst]] = {name: [] for name in names}
    cpu = {name: dict.fromkeys(meter.pids, 0.0) for name in names}
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            before = meter.snapshot()
            done[name].append(await burst(operations[name], count=count, in_flight=in_flight))
            for process, used in meter.since(before).items():
                cpu[name][process] += used
            await between()
    return {name: (done[name], cpu[name]) for name in names}
