"""Who is calling: the standalone service's bearer-JWT check, and how host users are read.

A host backend passes its own ``get_current_user`` dependency; whatever it returns
needs an ``id`` and may have an ``email``. The standalone service verifies HS256
JWTs signed with AUTH_JWT_SECRET (docs/hosting.md lists what a token must carry).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from voicecore.core.domain import User

if TYPE_CHECKING:
    from voicecore_http.settings import HttpSettings


class NotAuthenticated(Exception):
    """No valid credentials: the HTTP layer answers 401 with WWW-Authenticate: Bearer."""


class HostUserWithoutId(Exception):
    """The host's get_current_user returned a user voicecore cannot read: a server fault, not a 401.

    The message names the type, the problem and the field names it has, never a value.
    """

    def __init__(self, candidate: object, problem: str) -> None:
        fields = ", ".join(_field_names(candidate)) or "none readable"
        super().__init__(
            f"the host's get_current_user returned a {type(candidate).__name__} {problem}; voicecore "
            f"reads the user id from an `id` attribute or key (a non-empty str, an int or a UUID). "
            f"Its fields: {fields}"
        )


class HostUserAllowanceUnreadable(Exception):
    """The host's user carries its allowance (USAGE_LIMIT_CLAIM) as something other than whole minutes."""

    def __init__(self, candidate: object, field: str, value: object) -> None:
        super().__init__(
            f"the host's get_current_user returned a {type(candidate).__name__} whose `{field}` is a "
            f"{type(value).__name__}; voicecore reads it as the user's minutes per period: an int, 0 or more"
        )


_FIELDS_NAMED = 12


def _field_names(candidate: object) -> list[str]:
    if isinstance(candidate, dict):
        names: list[Any] = list(candidate)
    else:
        names = list(getattr(candidate, "__dict__", {})) + list(getattr(candidate, "__slots__", ()))
    readable = sorted({n for n in names if isinstance(n, str) and n.isidentifier() and not n.startswith("_")})
    return readable[:_FIELDS_NAMED]


def _read(candidate: object, name: str) -> tuple[bool, object]:
    if isinstance(candidate, dict):
        return name in candidate, candidate.get(name)
    return hasattr(candidate, name), getattr(candidate, name, None)


def as_user(candidate: object, usage_claim: str | None = None) -> User:
    """A voicecore User from whatever the host's get_current_user returned.

    ``None`` means nobody is signed in (401). Anything else must carry a usable id:
    a host whose user has ``user_id`` instead of ``id`` gets a logged server error
    naming the problem, never a silent 401 on every call. With ``usage_claim``
    (USAGE_LIMIT_CLAIM), the user's own minutes per period are read from that
    attribute or key, when present.
    """
    if isinstance(candidate, User):
        return candidate
    if candidate is None:
        raise NotAuthenticated("get_current_user returned no user")
    present, user_id = _read(candidate, "id")
    if not present:
        raise HostUserWithoutId(candidate, "with no `id`")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int | uuid.UUID):
        raise HostUserWithoutId(candidate, f"whose `id` is a {type(user_id).__name__}")
    if user_id == "":
        raise HostUserWithoutId(candidate, "whose `id` is empty")
    _, email = _read(candidate, "email")
    minutes = None
    if usage_claim is not None:
        _, value = _read(candidate, usage_claim)
        minutes = whole_minutes(value)
        if value is not None and minutes is None:
            raise HostUserAllowanceUnreadable(candidate, usage_claim, value)
    return User(id=str(user_id), email=str(email) if email else None, usage_limit_minutes=minutes)


def whole_minutes(value: object) -> int | None:
    """``value`` as a number of minutes (an int, 0 or more); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


# How many verified tokens are remembered (the most recently used ones).
_VERIFIED_TOKENS_KEPT = 4096
DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600

# A token that says what it is must say "access token": refresh and ID tokens
# signed with the same secret are refused. Claim names as used by common issuers
# (token_type, typ, type; token_use in Cognito); values compared in lower case.
_TYPE_CLAIMS = ("token_type", "typ", "type", "token_use")
_ACCESS_TYPES = frozenset({"access", "access_token", "bearer", "at+jwt", "application/at+jwt"})
# The JOSE header's typ (RFC 7519 section 5.1; RFC 9068 for access tokens).
_HEADER_TYPES = frozenset({"jwt", "application/jwt", "at+jwt", "application/at+jwt"})


def _states_another_type(value: object, accepted: frozenset[str]) -> bool:
    return value is not None and not (isinstance(value, str) and value.lower() in accepted)


class JwtAuthenticator:
    """Verifies the standalone service's bearer JWTs.

    A token that passed verification is remembered until it expires, so a client
    polling with the same token pays for one verification, not one per request
    (docs/benchmarks.md). That answers exactly as verifying again would: a token
    string's signature and claims cannot change, the key is fixed, and of the
    clock checks only ``exp`` can turn a pass into a failure (``nbf`` and ``iat``
    only ever turn failures into passes); ``exp`` is checked again on every use,
    with the same leeway as PyJWT. Only successes are remembered.
    """

    def __init__(
        self,
        secret: SecretStr,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        max_lifetime_seconds: int = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
        leeway_seconds: int = 10,
        clock: Callable[[], float] = time.time,
        usage_claim: str | None = None,
    ) -> None:
        self._secret = secret
        self._usage_claim = usage_claim
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime = max_lifetime_seconds
        self._required = ["exp", "sub"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
        self._leeway = leeway_seconds
        self._clock = clock
        self._verified: OrderedDict[str, tuple[User, int]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: HttpSettings, usage_claim: str | None = None) -> JwtAuthenticator:
        return cls(
            settings.auth_jwt_secret,
            issuer=settings.auth_jwt_issuer,
            audience=settings.auth_jwt_audience,
            max_lifetime_seconds=settings.auth_jwt_max_lifetime_seconds,
            usage_claim=usage_claim,
        )

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
            # With no audience configured, PyJWT refuses any token that names one:
            # another service's token is not ours.
            claims = jwt.decode(
                token,
                self._secret.get_secret_value(),
                algorithms=["HS256"],  # pinned: "none" and every other alg are refused
                options={"require": self._required},
                leeway=self._leeway,
                issuer=self._issuer,
                audience=self._audience,
            )
            header = jwt.get_unverified_header(token)  # verified just above, with the claims
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("invalid bearer token") from exc
        if _states_another_type(header.get("typ"), _HEADER_TYPES) or any(
            _states_another_type(claims.get(name), _ACCESS_TYPES) for name in _TYPE_CLAIMS
        ):
            raise NotAuthenticated("not an access token")
        expires = int(claims["exp"])
        issued_at = claims.get("iat")
        # Without iat, the lifetime left counts: a token valid for a century is refused either way.
        issued = float(issued_at) if isinstance(issued_at, int | float) else self._clock()
        if expires - issued > self._max_lifetime:
            raise NotAuthenticated("token lifetime exceeds AUTH_JWT_MAX_LIFETIME_SECONDS")
        subject, email = claims.get("sub"), claims.get("email")
        if not isinstance(subject, str) or not subject:
            raise NotAuthenticated("token subject is not a user id")
        if email is not None and not isinstance(email, str):
            raise NotAuthenticated("token email is not a string")
        minutes = None
        if self._usage_claim is not None and (value := claims.get(self._usage_claim)) is not None:
            minutes = whole_minutes(value)
            if minutes is None:
                raise NotAuthenticated("token allowance is not a whole number of minutes")
        return User(id=subject, email=email or None, usage_limit_minutes=minutes), expires


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
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> User:
        if credentials is None:  # absent, or not the Bearer scheme
            raise NotAuthenticated("missing bearer token")
        # Two Authorization headers: a proxy may read the other one than we do.
        if len(request.headers.getlist("authorization")) > 1:
            raise NotAuthenticated("more than one Authorization header")
        return authenticator().user_from_token(credentials.credentials)

    return get_current_user
