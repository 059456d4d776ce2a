"""CPU time of the processes involved, from /proc: where each request's work is done."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) so far; 0.0 if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may contain spaces: fields are counted after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class CpuMeter:
    """Snapshots of several processes' CPU time; ``since`` gives what each used in between."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)

    def snapshot(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def since(self, before: Mapping[str, float]) -> dict[str, float]:
        now = self.snapshot()
        return {name: now[name] - before[name] for name in self.pids}


def machine_cpu_seconds() -> dict[str, float]:
    """CPU time the whole machine spent so far (all CPUs; /proc/stat), split as processes see it.

    ``tasks`` (user, nice, system) is what per-process figures add up to; ``interrupts`` (irq,
    softirq: loopback TCP is largely processed there) and ``steal`` are charged to no process.
    """
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    except (OSError, IndexError, ValueError):
        return {"tasks": 0.0, "interrupts": 0.0, "steal": 0.0}
    return {
        "tasks": (user + nice + system) / _TICKS,
        "interrupts": (irq + softirq) / _TICKS,
        "steal": steal / _TICKS,
    }


class MachineLoad:
    """The machine's CPU from now on, split into the metered processes and everything else.

    Anything else running meanwhile (another test suite, say) skews the figures: the
    results record its share so a reader can tell.
    """

    def __init__(self, meter: CpuMeter) -> None:
        self._meter = meter
        self._ours = meter.snapshot()
        self._machine = machine_cpu_seconds()
        self._wall = time.monotonic()

    def shares(self) -> dict[str, float]:
        ours = sum(self._meter.since(self._ours).values())
        machine = {k: v - self._machine[k] for k, v in machine_cpu_seconds().items()}
        capacity = (time.monotonic() - self._wall) * (os.cpu_count() or 1)
        return {
            "benchmark_processes_cpu_share": round(ours / capacity, 3),
            "other_processes_cpu_share": round(max(machine["tasks"] - ours, 0.0) / capacity, 3),
            "interrupts_cpu_share": round(machine["interrupts"] / capacity, 3),
            "steal_share": round(machine["steal"] / capacity, 3),
        }
