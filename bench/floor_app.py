"""``python -m bench.floor_app --port N``: the thinnest Python HTTP service doing the direct baseline's work.

A reference target, not voicecore: raw ASGI on the same uvicorn (and so the same
event loop and HTTP parser), no framework, no authentication, no logging; each
request does exactly what ``bench.direct.DirectBackend`` does with one warm
``LiveKitAPI``. Its distance from direct is the price of an HTTP hop in Python
on this machine; voicecore's distance from it is the price of voicecore's layers.
It answers just enough for ``bench.clients.ApiUser``: POST creates, GET
/{room_name} gives the head count, GET lists, GET /readyz says ready.

Its list is what a per-user index leaves to LiveKit, the floor of voicecore's: the
names it created kept in a set (its index), ListRooms(names=them), then
ListParticipants of each, concurrently; names LiveKit no longer has are dropped.

With ``SESSION_STORE_URL`` set it also makes one bare redis-py call per request
(a SET before a create, a GET beside a status), on one warm client: the
price of one Redis round trip with the official client, and nothing of ours.
With ``FLOOR_INSERT=sqlite`` or ``postgres`` each create also inserts the journal's
row after CreateRoom, with one bare statement through the journal's driver
(``bench.floor_insert``): the price of recording a session, and nothing of ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvicorn
from livekit import api

from bench.direct import DirectBackend
from bench.floor_insert import SessionInsert, open_insert

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIX = "/api/v1/voice-sessions"
USER = "bench-floor"
REDIS_USER = "bench-floor-redis"  # the floor with a Redis call: its rooms are its own
INSERT = "FLOOR_INSERT"  # sqlite or postgres: insert the journal's row after each CreateRoom
AGENT_TYPE = "workout"  # what the benchmark's clients ask for


def user_for(*, redis: bool, insert: str | None) -> str:
    """The floor's one user (it checks no token): each variant's rooms are its own."""
    user = REDIS_USER if redis else USER
    return f"{user}-{insert}" if insert else user


class FloorApp:
    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        redis_url: str | None = None,
        *,
        insert: str | None = None,
        journal_url: str | None = None,
    ) -> None:
        self._settings = (url, api_key, api_secret)
        self._redis_url = redis_url
        self._insert_into = (insert, journal_url)
        self._lk: api.LiveKitAPI | None = None
        self._direct: DirectBackend | None = None
        self._redis: aioredis.Redis | None = None
        self._insert: SessionInsert | None = None
        self._workdir = Path.cwd()  # where the SQLite journal's default file lives
        self._user = user_for(redis=redis_url is not None, insert=insert)
        self._made: set[str] = set()  # the floor's index of its user's rooms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        if scope["method"] == "POST" and path == PREFIX:
            while (await receive()).get("more_body"):
                pass
            assert self._direct is not None
            if self._redis is not None:
                await self._redis.set(f"floor:{id(scope)}", "1", px=60_000)
            name, token = await self._direct.create(self._user)
            self._made.add(name)
            if self._insert is not None:
                await self._insert.insert(name, self._user, AGENT_TYPE)
            await _answer(send, 201, {"room_name": name, "token": token})
        elif scope["method"] == "GET" and path == PREFIX:
            assert self._direct is not None
            # (ListRooms with no names would list every room: an empty index lists nothing.)
            listed = await self._direct.list_indexed(self._user, sorted(self._made)) if self._made else []
            self._made.intersection_update(name for name, _ in listed)
            sessions = [{"room_name": name, "participant_count": count} for name, count in listed]
            await _answer(send, 200, {"sessions": sessions})
        elif scope["method"] == "GET" and path.startswith(PREFIX + "/"):
            assert self._direct is not None
            room_name = path.removeprefix(PREFIX + "/")
            if self._redis is not None:
                _, count = await asyncio.gather(
                    self._redis.get(f"floor:{room_name}"), self._direct.status(self._user, room_name)
                )
            else:
                count = await self._direct.status(self._user, room_name)
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
                if self._redis_url is not None:
                    self._redis = aioredis.Redis.from_url(self._redis_url)
                    await self._redis.set("floor:warm", "1", px=60_000)  # warm: the pool holds a connection
                insert, journal_url = self._insert_into
                if insert:
                    self._insert = await open_insert(insert, journal_url, self._workdir)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._lk is not None:
                    await self._lk.aclose()
                if self._redis is not None:
                    await self._redis.aclose()
                if self._insert is not None:
                    await self._insert.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send: Send, status: int, body: Mapping[str, object]) -> None:
    content = json.dumps(body, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = FloorApp(
        os.environ["LIVEKIT_URL"],
        os.environ["LIVEKIT_API_KEY"],
        os.environ["LIVEKIT_API_SECRET"],
        redis_url=os.environ.get("SESSION_STORE_URL"),
        insert=os.environ.get(INSERT) or None,
        journal_url=os.environ.get("JOURNAL_URL"),
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
