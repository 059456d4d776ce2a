"""The leak guard, a pytest plugin: no secret or token may reach any log record.

It installs one ``LeakGuard`` for the whole session: a handler on
the root logger at DEBUG that keeps each record rendered as text (message, every
extra field, the exception with its whole cause chain), and recorders that note
every JWT ``jwt.encode`` returns (LiveKit join tokens, the LiveKit API's own
request tokens, the bearer tokens tests mint) and every secret the code reads
(``SecretStr.get_secret_value``, each local livekit-server's key pair).
``leaks()`` then says whether any of them reached a log. Every test is checked
for what it logged, at its teardown; the session is checked again at the end, for
what session-scoped fixtures logged.
"""

from __future__ import annotations

import functools
import logging
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import jwt
import pytest
from pydantic import SecretStr

from tests.support.constants import AUTH_SECRET, TEST_API_SECRET
from tests.support.figures import FIGURES
from voicecore.testing.livekit_server import LocalLiveKitServer

# Shorter "secrets" are placeholders in settings tests ("secret"); matching them
# would flag every log line containing the word.
MIN_SECRET_LENGTH = 12
# A JWT segment: header, claims and signature are base64url runs between dots.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{20,}")
# Anything shaped like a signed JWT, issued here or not.
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
# Records of the LiveKit *client* SDK's Rust core (livekit rtc, which tests use to
# join rooms as participants; voicecore never joins): on a refused connect it logs
# the signal URL with its access_token. Tokens there are counted, not failed;
# secrets there still fail.
_CLIENT_SDK_RECORD = re.compile(r"livekit\n\w+\nlivekit(?:_\w+)?::")
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
_SEPARATOR = "\n\x00\n"

T = TypeVar("T")


def render(record: logging.LogRecord) -> str:
    """Everything a formatter or a log shipper could ever write out for this record."""
    try:
        message = record.getMessage()
    except Exception as exc:  # a bad format string still must not hide its arguments
        message = f"{record.msg!r} % {record.args!r} ({type(exc).__name__})"
    parts = [record.name, record.levelname, message]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


class CapturingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.by_level: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(render(record))
        self.by_level[record.levelname] = self.by_level.get(record.levelname, 0) + 1


class LeakGuard:
    def __init__(self) -> None:
        self.handler = CapturingHandler()
        self.secrets: set[str] = set()
        self.tokens: set[str] = set()
        self._token_segments: set[str] = set()

    # --- what must never be logged ---------------------------------------------

    def add_secret(self, value: object) -> None:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)

    def add_token(self, value: object) -> None:
        if not isinstance(value, str) or value.count(".") != 2:
            return
        self.tokens.add(value)
        _header, claims, signature = value.split(".")
        # The header ({"alg":"HS256","typ":"JWT"}) is the same in every token: not a leak by itself.
        self._token_segments.update(part for part in (claims, signature) if len(part) >= 20)

    def recording(self, func: Callable[..., T], sink: Callable[[object], None]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            result = func(*args, **kwargs)
            sink(result)
            return result

        return wrapper

    def recording_server_start(self, start: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(start)
        def wrapper(server: Any, *args: Any, **kwargs: Any) -> None:
            self.add_secret(server.api_secret)
            start(server, *args, **kwargs)

        return wrapper

    # --- the check ---------------------------------------------------------------

    def leaks(self, texts: Iterable[str] | None = None) -> list[str]:
        """One line per leak, naming the record but never repeating the secret."""
        texts = list(self.handler.texts if texts is None else texts)
        found: list[str] = []
        blob = _SEPARATOR.join(texts)
        for secret in sorted(self.secrets):
            if secret in blob:
                found += [f"a secret in {self._where(t)}" for t in texts if secret in t]
        texts = [t for t in texts if not _CLIENT_SDK_RECORD.match(t)]
        blob = _SEPARATOR.join(texts)
        leaked_segments = {s for s in _SEGMENT.findall(blob) if s in self._token_segments}
        if leaked_segments:
            found += [
                f"an issued token in {self._where(t)}"
                for t in texts
                if any(segment in t for segment in leaked_segments)
            ]
        found += [f"a JWT-shaped string in {self._where(t)}" for t in texts if _JWT_SHAPE.search(t)]
        return found

    def client_sdk_records_with_tokens(self) -> int:
        """How many LiveKit client-SDK records carried a token (excused above, reported)."""
        return sum(
            1
            for t in self.handler.texts
            if _CLIENT_SDK_RECORD.match(t)
            and (_JWT_SHAPE.search(t) or any(s in self._token_segments for s in _SEGMENT.findall(t)))
        )

    def problems_in(self, text: str) -> list[str]:
        """Secrets and issued tokens in one text (an HTTP body, say)."""
        return self.leaks([text])

    def _where(self, text: str) -> str:
        """Which record, its message redacted: the report must not repeat the leak."""
        name, level, message = [*text.split("\n", 3), "", ""][:3]
        for secret in self.secrets:
            message = message.replace(secret, "<secret>")
        message = _JWT_SHAPE.sub("<jwt>", message)
        message = _SEGMENT.sub(
            lambda m: "<token>" if m.group() in self._token_segments else m.group(), message
        )
        return f"{level} record of {name!r}: {message[:120]!r}"


# --- the plugin ------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def log_leak_guard() -> Iterator[LeakGuard]:
    """Capture every log record of the session at DEBUG; record every secret and JWT."""
    guard = LeakGuard()
    guard.add_secret(TEST_API_SECRET)
    guard.add_secret(AUTH_SECRET)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(guard.handler)
    root.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jwt, "encode", guard.recording(jwt.encode, guard.add_token))
        patch.setattr(
            SecretStr, "get_secret_value", guard.recording(SecretStr.get_secret_value, guard.add_secret)
        )
        patch.setattr(LocalLiveKitServer, "start", guard.recording_server_start(LocalLiveKitServer.start))
        try:
            yield guard
        finally:
            root.removeHandler(guard.handler)
            root.setLevel(previous_level)
    leaks = guard.leaks()
    if leaks:
        pytest.fail("secrets or tokens reached the logs:\n" + "\n".join(leaks), pytrace=False)
    FIGURES.record(
        "Leaks",
        f"{len(guard.handler.texts)} log records captured at DEBUG "
        f"({', '.join(f'{level} {n}' for level, n in sorted(guard.handler.by_level.items()))}), "
        f"{sum(map(len, guard.handler.texts)) // 1024} KiB of text; {len(guard.secrets)} secrets and "
        f"{len(guard.tokens)} JWTs watched; none found. "
        f"{guard.client_sdk_records_with_tokens()} LiveKit client-SDK (rtc) records carried a join token",
    )


@pytest.fixture(autouse=True)
def _no_leak_in_this_test(log_leak_guard: LeakGuard) -> Iterator[None]:
    first = len(log_leak_guard.handler.texts)
    yield
    leaks = log_leak_guard.leaks(log_leak_guard.handler.texts[first:])
    assert not leaks, "secrets or tokens reached the logs:\n" + "\n".join(leaks)
