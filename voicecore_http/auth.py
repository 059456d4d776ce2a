"""Who is calling: the standalone service's bearer-JWT check, and how host users are read.

A host backend passes its own ``get_current_user`` dependency; whatever it returns
needs an ``id`` and may have an ``email``. The standalone service verifies HS256
JWTs signed with AUTH_JWT_SECRET: ``exp`` and ``sub`` required, ``email`` optional.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import jwt
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from voicecore.core.domain import User


class NotAuthenticated(Exception):
    """No valid credentials: the HTTP layer answers 401 with WWW-Authenticate: Bearer."""


def as_user(candidate: object) -> User:
    """A voicecore User from whatever the host's get_current_user returned."""
    if isinstance(candidate, User):
        return candidate
    user_id = getattr(candidate, "id", None)
    if user_id is None and isinstance(candidate, dict):
        user_id = candidate.get("id")
    if user_id is None or user_id == "":
        raise NotAuthenticated("the authenticated user has no id")
    email = getattr(candidate, "email", None)
    if email is None and isinstance(candidate, dict):
        email = candidate.get("email")
    return User(id=str(user_id), email=str(email) if email else None)


class JwtAuthenticator:
    def __init__(self, secret: SecretStr, *, leeway_seconds: int = 10) -> None:
        self._secret = secret
        self._leeway = leeway_seconds

    def user_from_token(self, token: str) -> User:
        try:
            claims = jwt.decode(
                token,
                self._secret.get_secret_value(),
                algorithms=["HS256"],  # pinned: "none" and every other alg are refused
                options={"require": ["exp", "sub"]},
                leeway=self._leeway,
            )
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("invalid bearer token") from exc
        subject, email = claims.get("sub"), claims.get("email")
        if not isinstance(subject, str) or not subject:
            raise NotAuthenticated("token subject is not a user id")
        if email is not None and not isinstance(email, str):
            raise NotAuthenticated("token email is not a string")
        return User(id=subject, email=email or None)


_bearer = HTTPBearer(auto_error=False, description="A JWT whose `sub` is the user id.")


def bearer_user_dependency(authenticator: Callable[[], JwtAuthenticator]) -> Callable[..., Awaitable[User]]:
    """The standalone service's get_current_user."""

    async def get_current_user(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User:
        if credentials is None:  # absent, or not the Bearer scheme
            raise NotAuthenticated("missing bearer token")
        return authenticator().user_from_token(credentials.credentials)

    return get_current_user
