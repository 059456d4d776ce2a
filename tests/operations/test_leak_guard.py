"""The leak guard (tests/support/leak_guard.py) finds what it must; it checks every test's logs itself."""

from __future__ import annotations

import logging

import jwt

from tests.support.leak_guard import LeakGuard, render

CANARY_SECRET = "canary-secret-0123456789abcdef-0123456789"


def planted(message: str, **extra: object) -> str:
    record = logging.LogRecord("voicecore.canary", logging.ERROR, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return render(record)


def test_the_guard_finds_a_planted_secret_and_token(log_leak_guard: LeakGuard) -> None:
    token = jwt.encode({"sub": "canary"}, CANARY_SECRET, algorithm="HS256")
    log_leak_guard.add_secret(CANARY_SECRET)
    assert token in log_leak_guard.tokens
    found = log_leak_guard.leaks(
        [
            planted("fine"),
            planted("calling LiveKit", header=f"Bearer {token}"),
            planted(f"key {CANARY_SECRET}"),
        ]
    )
    assert len(found) == 3  # the secret, the token's segments, the JWT shape
    assert all(CANARY_SECRET not in line and token not in line for line in found)
