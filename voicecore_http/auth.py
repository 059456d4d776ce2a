"""Who is calling: the standalone service's bearer-JWT check, and how host users are read.

A host backend passes its own ``get_current_user`` dependency; whatever it returns
needs an ``id`` and may have an ``email``. The standalone service verifies HS256
JWTs signed with AUTH_JWT_SECRET: ``exp`` and ``sub`` required, ``email`` optional.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
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


# How many verified tokens are remembered (the most recently used ones).
_VERIFIED_TOKENS_KEPT = 4096


class JwtAuthenticator:
    """Verifies the standalone service's bearer JWTs.

    A token that passed verification is remembered until it expires, so a client
    polling with the same token pays for one verification, not one per request
    (about 50 us each). That answers exactly as verifying again would: a token
    string's signature and claims cannot change, the key is fixed, and of the
    clock checks only ``exp`` can turn a pass into a failure (``nbf`` and ``iat``
    only ever turn failures into passes); ``exp`` is checked again on every use,
    with the same leeway as PyJWT. Only successes are remembered.
    """

    def __init__(
        self, secret: SecretStr, *, leeway_seconds: int = 10, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self._leeway = leeway_seconds
        self._clock = clock
        self._verified: OrderedDict[str, tuple[User, int]] = OrderedDict()

    def user_from_token(self, token: str) -> User:
        remembered = self._verified.get(token)
        if remembered is not None:
            user, expires = remembered
            if expires > self._clock() - self._leeway:  # PyJWT: exp <= now - leeway has expired
                with contextlib.suppress(KeyError):  # KeyError: another thread dropped it meanwhile
                    self._verified.move_to_end(token)
                return user
            self._verified.pop(token, None)
        user, expires = self._verify(token)
        self._verified[token] = (user, expires)
        while len(self._verified) > _VERIFIED_TOKENS_KEPT:
            try:
                self._verified.popitem(last=False)
            except KeyError:
                break
        return user

    def _verify(self, token: str) -> tuple[User, int]:
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
        return User(id=subject, email=email or None), int(claims["exp"])


_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description=(
        "`Authorization: Bearer <JWT>`, issued by your auth service: HS256, signed with the "
        "service's `AUTH_JWT_SECRET`. `sub` is the user id and `exp` is required; `email` is "
        "optional (it becomes the participant's display name). Anything else is 401 with "
        "`WWW-Authenticate: Bearer`."
    ),
)


def bearer_user_dependency(authenticator: Callable[[], JwtAuthenticator]) -> Callable[..., Awaitable[User]]:
    """The standalone service's get_current_user."""

    async def get_current_user(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User:
        if credentials is None:  # absent, or not the Bearer scheme
            raise NotAuthenticated("missing bearer token")
        return authenticator().user_from_token(credentials.credentials)

    return get_current_user
