"""A real receiver of app webhooks: a small Starlette app on uvicorn on 127.0.0.1, in a thread of its own.

Every request is verified with the Standard Webhooks reference package
(``standardwebhooks``), never with a check of ours, against each secret the
receiver knows; what it answers is up to the test (``reply``). It can go down (its
port refuses connections) and come back on the same port, hold requests without
answering, redirect, or answer with an endless body.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.support.waiting import WaitTimedOut, eventually
from voicecore.testing.processes import free_port

PATH = "/hooks/voicecore"
REDIRECT_TARGET = "/hooks/elsewhere"


def new_secret() -> str:
    """A fresh secret in the Standard Webhooks form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)
    hold: bool = False  # answer only when the receiver releases its held requests (or stops)
    endless_body: bool = False  # a 200 whose body never ends


@dataclass(frozen=True)
class Hit:
    """One request as the receiver saw it."""

    webhook_id: str
    timestamp: str
    path: str
    verified_by: tuple[int, ...]  # which of the receiver's secrets verified it (none: forged or broken)
    type: str
    room_name: str
    user_id: str
    sequence: int
    try_number: int  # 1 for the first request with this webhook-id
    at: float  # time.monotonic()
    body: Mapping[str, object]
    reply: Reply

    @property
    def verified(self) -> bool:
        return bool(self.verified_by)

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.reply.status < 300 and not self.reply.hold


def _ok(_: Hit) -> Reply:
    return Reply()


class WebhookReceiver:
    def __init__(self, secrets_known: Sequence[str]) -> None:
        self.port = free_port()
        self.verifiers = [Webhook(secret) for secret in secrets_known]
        self.reply: Callable[[Hit], Reply] = _ok
        self._hits: list[Hit] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    # --- life ---------------------------------------------------------------------------

    def start(self) -> None:
        """Serve on the receiver's port (the same one after a stop) until ``stop``."""
        app = Starlette(
            routes=[
                Route(PATH, self._receive, methods=["POST"]),
                Route(REDIRECT_TARGET, self._receive, methods=["POST", "GET"]),
            ]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._released = asyncio.Event()
            loop.call_soon(ready.set)
            loop.run_until_complete(server.serve())
            loop.close()

        self._server = server
        self._thread = threading.Thread(target=serve, name=f"webhook-receiver-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Down: held requests are let go, the port refuses connections."""
        self.release()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(15)

    def release(self) -> None:
        """Answer every request held so far; later ones that ask to be held are held again."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._release_held)

    def _release_held(self) -> None:
        held, self._released = self._released, asyncio.Event()
        if held is not None:
            held.set()

    # --- what it saw --------------------------------------------------------------------

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def hits_of(self, webhook_id: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.webhook_id == webhook_id]

    def acknowledged_ids(self) -> list[str]:
        return [hit.webhook_id for hit in self.hits if hit.acknowledged]

    def sequences_by_room(self) -> dict[str, list[int]]:
        """Each room's acknowledged events, in the order they were acknowledged."""
        rooms: dict[str, list[int]] = {}
        for hit in self.hits:
            if hit.acknowledged:
                rooms.setdefault(hit.room_name, []).append(hit.sequence)
        return rooms

    async def wait_for(
        self, condition: Callable[[list[Hit]], bool], *, what: str, within: float = 30.0
    ) -> list[Hit]:
        """Until ``condition(hits)`` holds; ``WaitTimedOut`` naming ``what`` after ``within`` seconds."""

        async def seen() -> list[Hit]:
            return self.hits

        try:
            return await eventually(seen, condition, what=what, within=within, every=0.02)
        except WaitTimedOut as exc:
            listed = "\n".join(
                f"  {hit.type} {hit.room_name} #{hit.sequence} try {hit.try_number}: {hit.reply.status}"
                for hit in self.hits
            )
            raise WaitTimedOut(f"{exc}\nthe receiver saw:\n{listed}") from None

    # --- the app ------------------------------------------------------------------------

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        verified_by = tuple(
            n for n, verifier in enumerate(self.verifiers) if _verifies(verifier, body, headers)
        )
        try:
            payload = json.loads(body)
            data = payload["data"]
        except (ValueError, KeyError, TypeError):
            payload, data = {}, {}
        webhook_id = headers.get("webhook-id", "")
        with self._lock:
            tries = 1 + sum(1 for hit in self._hits if hit.webhook_id == webhook_id)
        hit = Hit(
            webhook_id=webhook_id,
            timestamp=headers.get("webhook-timestamp", ""),
            path=request.url.path,
            verified_by=verified_by,
            type=str(payload.get("type", "")),
            room_name=str(data.get("room_name", "")),
            user_id=str(data.get("user_id", "")),
            sequence=int(data.get("sequence", 0)),
            try_number=tries,
            at=time.monotonic(),
            body=payload,
            reply=Reply(),
        )
        reply = self.reply(hit) if verified_by else Reply(status=401)
        with self._lock:
            self._hits.append(_with_reply(hit, reply))
        if reply.hold and self._released is not None:
            await self._released.wait()  # the event of this moment: a release lets it go
        if reply.endless_body:
            return StreamingResponse(_endless(), status_code=reply.status, headers=dict(reply.headers))
        return Response(status_code=reply.status, headers=dict(reply.headers))


def _verifies(verifier: Webhook, body: bytes, headers: dict[str, str]) -> bool:
    try:
        verifier.verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def _with_reply(hit: Hit, reply: Reply) -> Hit:
    return Hit(**{**hit.__dict__, "reply": reply})


async def _endless() -> AsyncIterator[bytes]:
    chunk = b"x" * 65536
    while True:
        yield chunk
        await asyncio.sleep(0)


@contextlib.contextmanager
def running_receiver(secrets_known: Sequence[str]) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secrets_known)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
