"""``python -m bench.flood --rate 50 --connections 8``: GET a URL at a steady rate, switched from stdin.

A process of its own, so the flood's CPU is not the measuring client's. Commands,
one a line: ``on URL`` starts requesting URL ``rate`` times a second, spread over
``connections`` keep-alive connections (each paced, none bursting to catch up: a
slow answer lowers the rate achieved, which is reported); ``off`` stops and prints
one JSON line: requests, seconds, the rate achieved, p50 and p95 in ms, failures.
End of input ends the process. ``flooding`` runs one and drives it from the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.stats import percentile

_REPO = Path(__file__).resolve().parent.parent


@dataclass
class Flood:
    url: str
    rate: float
    clients: Sequence[httpx.AsyncClient]
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    started: float = field(default_factory=time.perf_counter)

    async def worker(self, slot: int) -> None:
        interval = len(self.clients) / self.rate
        due = self.started + slot / self.rate
        client = self.clients[slot]
        while True:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            try:
                response = await client.get(self.url)
                if response.status_code != 200:
                    self.failures += 1
            except httpx.HTTPError:
                self.failures += 1
            done = time.perf_counter()
            self.latencies.append(done - sent)
            due = max(due + interval, done)  # late: the next one now, not a burst of the missed ones

    def report(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self.started
        report: dict[str, Any] = {
            "requests": len(self.latencies),
            "seconds": round(seconds, 3),
            "achieved_per_second": round(len(self.latencies) / seconds, 1),
            "failures": self.failures,
        }
        if self.latencies:
            report["p50_ms"] = round(percentile(self.latencies, 50) * 1000, 3)
            report["p95_ms"] = round(percentile(self.latencies, 95) * 1000, 3)
        return report


async def _stop(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run(rate: float, connections: int) -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=2.0)
    clients = [
        httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0), trust_env=False)
        for _ in range(connections)
    ]
    flood: Flood | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        while line := (await commands.readline()).decode().strip():
            command, _, argument = line.partition(" ")
            if command == "on" and flood is None:
                flood = Flood(argument, rate, clients)
                tasks = [asyncio.create_task(flood.worker(slot)) for slot in range(connections)]
                print(json.dumps({"flooding": argument}), flush=True)
            elif command == "off" and flood is not None:
                await _stop(tasks)
                print(json.dumps(flood.report()), flush=True)
                flood = None
            else:
                print(json.dumps({"error": f"unexpected command {line!r}"}), flush=True)
    finally:
        await _stop(tasks)
        for client in clients:
            await client.aclose()


class FloodProcess:
    """The benchmark's side: a ``python -m bench.flood`` process, switched on and off."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def _ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        answer: dict[str, Any] = json.loads(await self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"bench.flood: {answer['error']}")
        return answer

    async def on(self, url: str) -> None:
        await self._ask(f"on {url}")

    async def off(self) -> dict[str, Any]:
        return await self._ask("off")


@contextlib.asynccontextmanager
async def flooding(rate: float, connections: int = 8) -> AsyncIterator[FloodProcess]:
    """A flood process, ready for ``on``; ended (its input closed) on the way out."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.flood",
        "--rate",
        str(rate),
        "--connections",
        str(connections),
        cwd=_REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield FloodProcess(process)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flood")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    asyncio.run(run(args.rate, args.connections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
