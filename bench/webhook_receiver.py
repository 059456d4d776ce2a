"""The app backend the benchmark's services send events to: raw ASGI on uvicorn, in a process of its own.

Each request is verified with the ``standardwebhooks`` package, as a real receiver
would, and noted with the time it arrived, just before its 204 goes out; the
event's own ``timestamp`` is when the service made it, in the transaction that
commits it. Each target posts to ``/hooks/TARGET``; ``GET /arrivals/TARGET`` lists
what came. Its own process: in the benchmark's, it would take the GIL from the
client whose latency is being measured.

``python -m bench.webhook_receiver --port N`` (the secret in BENCH_WEBHOOK_SECRET).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from voicecore.testing.processes import free_port, log_tail, spawn, stop

SECRET_VARIABLE: Final = "BENCH_WEBHOOK_SECRET"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class Arrival:
    type: str
    room_name: str
    made_at: float  # the event's timestamp, seconds since 1970
    arrived_at: float  # time.time() as its 204 was about to go out

    @property
    def latency(self) -> float:
        return self.arrived_at - self.made_at


class ReceiverApp:
    def __init__(self, secret: str) -> None:
        self._verifier = Webhook(secret)
        self._arrivals: dict[str, list[list[Any]]] = {}
        self.refused = 0

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        kind, _, target = scope["path"].strip("/").partition("/")
        if kind == "arrivals":
            answer = {"arrivals": self._arrivals.get(target, []), "refused": self.refused}
            await _answer(send, 200, json.dumps(answer).encode())
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            self._verifier.verify(body, headers)
        except WebhookVerificationError:
            self.refused += 1
            await _answer(send, 401, b"")
            return
        event = json.loads(body)
        made_at = datetime.fromisoformat(event["timestamp"]).timestamp()
        arrival = [event["type"], event["data"]["room_name"], made_at, time.time()]
        self._arrivals.setdefault(target, []).append(arrival)
        await _answer(send, 204, b"")


async def _answer(send: Callable[[Message], Awaitable[None]], status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


@dataclass
class BenchReceiver:
    """The receiver process, as the phase sees it."""

    port: int
    client: httpx.AsyncClient

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{target}"

    async def arrivals(self, target: str, event_type: str) -> list[Arrival]:
        listed = (await self.client.get(f"http://127.0.0.1:{self.port}/arrivals/{target}")).json()
        return [Arrival(*row) for row in listed["arrivals"] if row[0] == event_type]

    async def refused(self) -> int:
        listed = (await self.client.get(f"http://127.0.0.1:{self.port}/arrivals/-")).json()
        return int(listed["refused"])


@contextlib.asynccontextmanager
async def running_receiver(secret: str, log_dir: Path) -> AsyncIterator[BenchReceiver]:
    port = free_port()
    log_path = log_dir / "webhook-receiver.log"
    process = spawn(
        [sys.executable, "-m", "bench.webhook_receiver", "--port", str(port)],
        log_path,
        env={**os.environ, SECRET_VARIABLE: secret},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the benchmark's webhook receiver did not start:\n{log_tail(log_path)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            yield BenchReceiver(port, client)
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = ReceiverApp(os.environ[SECRET_VARIABLE])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="off")


if __name__ == "__main__":
    main()
