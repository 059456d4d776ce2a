"""Who calls the voice-session endpoints: the router's get_current_user, resolved once per request.

A host mounts the router with its own get_current_user (any FastAPI dependency,
with sub-dependencies of its own), so the dependency that names the caller is
known only when the router is built. The router runs it as a router-level
dependency, which keeps the caller on the request; each handler, a plain named
method, reads it back with ``caller_of``. Nothing is wired at module level, so
apps with different containers and different users can share a process.

The handler reads it in its body, not through a dependency of its own: FastAPI
still runs a dependency whose siblings failed validation (a host's header
missing, say), and only the handler is sure to run after every one succeeded.

No `from __future__ import annotations` here: FastAPI must see the host's
dependency in ``resolve_caller``'s signature as a real object, not a string.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from voicecore.core.domain import User
from voicecore_http.auth import as_user

_CALLER = "voicecore_caller"  # the attribute of request.state that holds the caller


def caller_resolver(
    get_current_user: Callable[..., Any], usage_claim: str | None = None
) -> Callable[..., Awaitable[None]]:
    """The router-level dependency that reads the caller from ``get_current_user``.

    ``get_current_user`` is any FastAPI dependency returning an object with an
    ``id`` (and optionally an ``email``, and the user's minutes under ``usage_claim``):
    the host's own, or the standalone JWT check.
    """

    async def resolve_caller(request: Request, candidate: Annotated[Any, Depends(get_current_user)]) -> None:
        setattr(request.state, _CALLER, as_user(candidate, usage_claim))

    return resolve_caller


def caller_of(request: Request) -> User:
    """The caller ``resolve_caller`` found for ``request``; call it from a handler of the router."""
    user = getattr(request.state, _CALLER, None)
    if not isinstance(user, User):
        # A handler mounted without the router's dependency: a wiring fault, never a client's.
        raise RuntimeError("a voice-session handler ran without voice_sessions_router's caller dependency")
    return user
