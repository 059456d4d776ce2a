"""``python -m bench.floor_app --port N``: the thinnest Python HTTP service doing the direct baseline's work.

A reference target, not voicecore: raw ASGI on the same uvicorn (and so the same
event loop and HTTP parser), no framework, no authentication, no logging; each
request does exactly what ``bench.direct.DirectBackend`` does with one warm
``LiveKitAPI``. Its distance from direct is the price of an HTTP hop in Python
on this machine; voicecore's distance from it is the price of voicecore's layers.
It answers just enough for ``bench.clients.ApiUser``: POST creates, GET
/{room_name} gives the head count, GET /readyz says ready.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from livekit import api

from bench.direct import DirectBackend

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIX = "/api/v1/voice-sessions"
USER = "bench-floor"


class FloorApp:
    def __init__(self, url: str, api_key: str, api_secret: str) -> None:
        self._settings = (url, api_key, api_secret)
        self._lk: api.LiveKitAPI | None = None
        self._direct: DirectBackend | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        if scope["method"] == "POST" and path == PREFIX:
            while (await receive()).get("more_body"):
                pass
            assert self._direct is not None
            name, token = await self._direct.create(USER)
            await _answer(send, 201, {"room_name": name, "token": token})
        elif scope["method"] == "GET" and path.startswith(PREFIX + "/"):
            assert self._direct is not None
            count = await self._direct.status(USER, path.removeprefix(PREFIX + "/"))
            await _answer(send, 200, {"participant_count": count})
        elif path in ("/readyz", "/healthz"):
            await _answer(send, 200, {"status": "ready"})
        else:
            await _answer(send, 404, {"detail": "Not Found"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                url, key, secret = self._settings
                self._lk = api.LiveKitAPI(url, key, secret)
                self._direct = DirectBackend(self._lk, key, secret)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._lk is not None:
                    await self._lk.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send: Send, status: int, body: dict[str, object]) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = FloorApp(os.environ["LIVEKIT_URL"], os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"])
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
