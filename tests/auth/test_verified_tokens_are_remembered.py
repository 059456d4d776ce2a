"""The bearer check remembers verified tokens: same answers as verifying every time, less work."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import SecretStr

from tests.support.clocks import StoppedEpochClock
from tests.support.constants import AUTH_SECRET
from tests.support.tokens import bearer
from voicecore.core.domain import User
from voicecore_http.auth import JwtAuthenticator, NotAuthenticated


def counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = jwt.decode

    def decode(token: str, *args: object, **kwargs: object) -> object:
        calls.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", decode)
    return calls


def test_a_verified_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_decode(monkeypatch)
    check = JwtAuthenticator(SecretStr(AUTH_SECRET))
    token = bearer("user-1", "one@example.com")
    assert [check.user_from_token(token) for _ in range(3)] == [User("user-1", "one@example.com")] * 3
    assert calls == [token]


def test_the_memory_answers_only_while_pyjwt_would_still_accept_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = StoppedEpochClock(time.time())
    check = JwtAuthenticator(SecretStr(AUTH_SECRET), leeway_seconds=10, clock=clock)
    token = bearer("user-1", ttl=60)
    exp = jwt.decode(token, AUTH_SECRET, algorithms=["HS256"])["exp"]
    check.user_from_token(token)
    calls = counting_decode(monkeypatch)
    clock.now = exp + 10 - 0.001  # PyJWT accepts while exp > now - leeway
    check.user_from_token(token)
    assert calls == []
    clock.now = exp + 10  # from here on, only PyJWT decides (on its own clock)
    check.user_from_token(token)
    assert calls == [token]


def test_an_expired_token_is_refused_even_after_it_was_remembered() -> None:
    clock = StoppedEpochClock(time.time())
    check = JwtAuthenticator(SecretStr(AUTH_SECRET), leeway_seconds=0, clock=clock)
    exp = int(time.time()) + 2
    token = jwt.encode({"sub": "user-1", "exp": exp}, AUTH_SECRET, algorithm="HS256")
    assert check.user_from_token(token) == User("user-1")
    # PyJWT judges exp on the real clock, in whole seconds: real time must pass it.
    while time.time() <= exp:
        time.sleep(exp - time.time() + 0.01)
    clock.now = time.time()
    with pytest.raises(NotAuthenticated):
        check.user_from_token(token)


def test_failures_are_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_decode(monkeypatch)
    check = JwtAuthenticator(SecretStr(AUTH_SECRET))
    forged = bearer("user-1", secret="another-secret-that-is-long-enough-0123456789")
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            check.user_from_token(forged)
    assert calls == [forged, forged]


def test_only_the_most_recently_used_tokens_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    check = JwtAuthenticator(SecretStr(AUTH_SECRET))
    kept = bearer("kept")
    check.user_from_token(kept)
    for i in range(5000):
        check.user_from_token(bearer(f"user-{i}"))
        check.user_from_token(kept)
    calls = counting_decode(monkeypatch)
    forgotten = bearer("user-0")  # issued again: the same claims, the same token
    assert check.user_from_token(kept) == User("kept")
    assert check.user_from_token(forgotten) == User("user-0")  # long forgotten: verified again
    assert calls == [forgotten]
