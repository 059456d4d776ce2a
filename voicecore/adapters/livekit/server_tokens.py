"""Server API tokens reused while fresh, on livekit-api's own services."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from livekit import api
from livekit.api._service import Service
from livekit.api.agent_dispatch_service import AgentDispatchService
from livekit.api.room_service import RoomService

# Server API tokens (the Authorization of each RoomService call) are signed with
# this lifetime and reused for half of it; room-admin tokens are per room, and
# only the most recently used ones are kept.
SERVER_TOKEN_TTL = timedelta(minutes=10)
_SERVER_TOKEN_REUSE_SECONDS = SERVER_TOKEN_TTL.total_seconds() / 2
_SERVER_TOKENS_KEPT = 1024


@dataclass(frozen=True, slots=True)
class _ServerToken:
    grants: api.VideoGrants
    header: dict[str, str]
    renew_at: float


class ServerTokens:
    """Server API tokens, reused while fresh instead of signed for every call.

    livekit-api signs a new JWT for every RoomService call (CPU spent mostly in
    ``dataclasses.asdict``; docs/benchmarks.md). Here each distinct set of grants is
    signed, by livekit-api's own ``AccessToken``, once per reuse period; a token
    is only ever reused for grants equal to the ones it carries.
    """

    def __init__(self, api_key: str, api_secret: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._api_key = api_key
        self._api_secret = api_secret
        self._clock = clock
        self._tokens: OrderedDict[tuple[object, ...], _ServerToken] = OrderedDict()

    def header(self, grants: api.VideoGrants) -> dict[str, str]:
        key = (grants.room_create, grants.room_list, grants.room_admin, grants.room)
        now = self._clock()
        cached = self._tokens.get(key)
        if cached is not None and cached.grants == grants and now < cached.renew_at:
            self._tokens.move_to_end(key)
            return cached.header
        signed = (
            api.AccessToken(self._api_key, self._api_secret).with_grants(grants).with_ttl(SERVER_TOKEN_TTL)
        )
        token = _ServerToken(
            grants=grants,
            header={"authorization": f"Bearer {signed.to_jwt()}"},
            renew_at=now + _SERVER_TOKEN_REUSE_SECONDS,
        )
        self._tokens[key] = token
        self._tokens.move_to_end(key)
        while len(self._tokens) > _SERVER_TOKENS_KEPT:
            self._tokens.popitem(last=False)
        return token.header

    def __len__(self) -> int:
        return len(self._tokens)


class _ServerTokensService(Service):
    """Mixed in before one of livekit-api's services: its Authorization comes from ``ServerTokens``.

    Only a call with video grants and no SIP grants is served from the cache;
    anything else is signed per call, as livekit-api does.
    """

    def __init__(
        self, session: aiohttp.ClientSession, url: str, api_key: str, api_secret: str, tokens: ServerTokens
    ) -> None:
        super().__init__(session, url, api_key, api_secret)
        self._tokens = tokens

    def _auth_header(
        self, grants: api.VideoGrants | None, sip: api.SIPGrants | None = None
    ) -> dict[str, str]:
        if grants is None or sip is not None:
            return super()._auth_header(grants, sip)
        return self._tokens.header(grants)


class ReusingRoomService(_ServerTokensService, RoomService):
    """livekit-api's RoomService, taking its Authorization from ``ServerTokens``."""


class ReusingAgentDispatchService(_ServerTokensService, AgentDispatchService):
    """livekit-api's AgentDispatchService, taking its Authorization from ``ServerTokens``."""
