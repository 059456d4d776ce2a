"""A host backend mounting voicecore's endpoints behind its own authentication.

Run it: ``LIVEKIT_URL=... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=...
uvicorn --factory docs.examples.host_backend:create_host_app``
(tests/hosting/test_host_example.py exercises exactly this module).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from voicecore import VoiceCoreContainer, load_settings, voicecore_lifespan
from voicecore_http.app import include_voice_sessions
from voicecore_http.health import health_router


class HostUser(BaseModel):
    """The host's own user model: voicecore reads ``id`` and ``email``."""

    id: int
    email: str
    display_name: str


# Stand-in for the host's real session store / OAuth check.
HOST_SESSIONS = {"host-session-ada": HostUser(id=42, email="ada@example.com", display_name="Ada")}


async def get_current_user(authorization: Annotated[str | None, Header()] = None) -> HostUser:
    token = (authorization or "").removeprefix("Bearer ").strip()
    user = HOST_SESSIONS.get(token)
    if user is None:
        raise HTTPException(
            status_code=401, detail="Not authenticated", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


def create_host_app(container: VoiceCoreContainer | None = None) -> FastAPI:
    # Settings are read here, at start-up: a missing LIVEKIT_* fails now, not on the first request.
    voice = container or VoiceCoreContainer.from_settings(load_settings())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with voicecore_lifespan(voice):  # opens and closes the LiveKit client
            yield

    host = FastAPI(title="Host backend", lifespan=lifespan)
    include_voice_sessions(host, voice, get_current_user=get_current_user, prefix="/coach/voice")
    # /coach/healthz and /coach/readyz: outside the sessions' prefix, where a name reads as a session.
    host.include_router(health_router(voice), prefix="/coach")
    return host
