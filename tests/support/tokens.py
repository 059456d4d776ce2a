"""Bearer tokens for the standalone service, and every way to be unauthenticated."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt

from tests.support.constants import AUTH_SECRET, TEST_API_SECRET


def join_claims(token: str, secret: str = TEST_API_SECRET) -> dict[str, Any]:
    """The claims of a LiveKit join token, its signature checked."""
    claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
    return claims


def bearer(
    user_id: str,
    email: str | None = None,
    *,
    ttl: int = 600,
    secret: str = AUTH_SECRET,
    extra_claims: Mapping[str, object] | None = None,
) -> str:
    """A bearer token for ``user_id``; ``extra_claims`` adds claims, such as a user's own allowance."""
    claims: dict[str, object] = {"sub": user_id, "exp": int(time.time()) + ttl, **(extra_claims or {})}
    if email is not None:
        claims["email"] = email
    return jwt.encode(claims, secret, algorithm="HS256")


def auth_header(
    user_id: str, email: str | None = None, *, ttl: int = 600, secret: str = AUTH_SECRET
) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer(user_id, email, ttl=ttl, secret=secret)}"}


def bad_auth() -> dict[str, dict[str, str]]:
    """Every way to be unauthenticated; minted at call time so the leak guard records them."""
    return {
        "missing": {},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "wrong secret": {"Authorization": f"Bearer {bearer('42', secret='another-secret-' + 'x' * 32)}"},
        "expired": {"Authorization": f"Bearer {bearer('42', ttl=-120)}"},
        "alg none": {
            "Authorization": "Bearer "
            + jwt.encode({"sub": "42", "exp": int(time.time()) + 600}, key="", algorithm="none")
        },
        "empty sub": {"Authorization": f"Bearer {bearer('')}"},
    }
