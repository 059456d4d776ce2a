"""The HTTP side: one keep-alive ``httpx.AsyncClient`` per service, as a bearer-token user."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

BASE = "/api/v1/voice-sessions"


class UnexpectedAnswer(RuntimeError):
    pass


def bearer(user_id: str, secret: str, ttl_seconds: int = 6 * 3600) -> str:
    return jwt.encode({"sub": user_id, "exp": int(time.time()) + ttl_seconds}, secret, algorithm="HS256")


def http_client(base_url: str, token: str, *, connections: int = 1) -> httpx.AsyncClient:
    """A keep-alive client; one connection unless told otherwise.

    The concurrent phase gives every worker a client of its own: httpcore's pool
    does work proportional to its connections on every request (the client CPU it
    costs is in docs/benchmarks.md).
    """
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        # A pooled connection is dropped well before the service closes it as idle
        # (HTTP_IDLE_TIMEOUT_SECONDS): reusing one at that very moment races the close.
        limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0
        ),
        timeout=httpx.Timeout(30.0),
        trust_env=False,
    )


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise UnexpectedAnswer(
            f"{response.request.method} {response.request.url.path}: {response.status_code}"
        )
    return response.json()


class ApiUser:
    """create / status / list / end through the voicecore HTTP API."""

    def __init__(self, name: str, client: httpx.AsyncClient, user_id: str) -> None:
        self.name = name
        self.client = client
        self.user_id = user_id

    async def create(self) -> str:
        body = _expect(await self.client.post(BASE, json={"agent_type": "workout"}), 201)
        room_name: str = body["room_name"]
        return room_name

    async def status(self, room_name: str) -> int:
        count: int = _expect(await self.client.get(f"{BASE}/{room_name}"), 200)["participant_count"]
        return count

    async def list_sessions(self) -> list[str]:
        return [s["room_name"] for s in _expect(await self.client.get(BASE), 200)["sessions"]]

    async def history(self, cursor: str | None = None) -> tuple[list[str], str | None]:
        """One page of the caller's history (the default size): its room names, and the next cursor."""
        params = {} if cursor is None else {"cursor": cursor}
        body = _expect(await self.client.get(f"{BASE}/history", params=params), 200)
        next_cursor: str | None = body["next_cursor"]
        return [s["room_name"] for s in body["sessions"]], next_cursor

    async def end(self, room_name: str) -> None:
        _expect(await self.client.delete(f"{BASE}/{room_name}"), 200)

    async def healthz(self) -> None:
        _expect(await self.client.get("/healthz"), 200)
