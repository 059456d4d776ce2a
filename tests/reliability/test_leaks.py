"""After everything else (this module is sorted last): no secret or token reached any log."""

from __future__ import annotations

import logging

import jwt
import pytest

from tests.conftest import TEST_API_SECRET
from tests.http.conftest import AUTH_SECRET
from tests.reliability.leaks import LEAK_CHECK_MODULE, LeakGuard, render
from tests.reliability.support import FIGURES

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


def test_no_secret_or_issued_token_reached_any_log(
    log_leak_guard: LeakGuard, request: pytest.FixtureRequest
) -> None:
    guard = log_leak_guard
    others = [item for item in request.session.items if not item.nodeid.startswith(LEAK_CHECK_MODULE)]
    if not others or not guard.handler.texts:
        pytest.skip("no other test ran or logged anything in this session: nothing to check")
    assert {TEST_API_SECRET, AUTH_SECRET} <= guard.secrets
    assert guard.leaks() == []
    FIGURES.record(
        "Leaks",
        f"{len(guard.handler.texts)} log records captured at DEBUG "
        f"({', '.join(f'{level} {n}' for level, n in sorted(guard.handler.by_level.items()))}), "
        f"{sum(map(len, guard.handler.texts)) // 1024} KiB of text; {len(guard.secrets)} secrets and "
        f"{len(guard.tokens)} JWTs watched; none found. "
        f"{guard.client_sdk_records_with_tokens()} LiveKit client-SDK (rtc) records carried a join token",
    )
