"""The creation rate's token bucket step, in the integer arithmetic both stores share.

The in-process store calls ``take_token``; the Redis store's Lua ``take_token``
(``redis_lua``) is the same arithmetic, line for line, so both give the very same answers.
"""

from __future__ import annotations

# The rate limit counts in integer units so both stores compute the very same
# answers: a token is 60 000 units and the bucket gains ``per_minute`` units a
# millisecond, i.e. ``per_minute`` tokens a minute.
TOKEN_UNITS = 60_000


def take_token(units: int, last_ms: int, now_ms: int, per_minute: int) -> tuple[int, int, int]:
    """The token bucket step: (units left, time kept, 0 if allowed else Retry-After seconds)."""
    capacity = per_minute * TOKEN_UNITS
    elapsed = max(0, now_ms - last_ms)
    units = min(capacity, units + elapsed * per_minute)
    kept = max(last_ms, now_ms)
    if units >= TOKEN_UNITS:
        return units - TOKEN_UNITS, kept, 0
    wait_ms = -(-(TOKEN_UNITS - units) // per_minute)
    return units, kept, max(1, -(-wait_ms // 1000))


_MINUTE_MS = 60_000


class TokenBuckets:
    """The in-process store's buckets, one per user: (units, last ms)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[int, int]] = {}

    def take(self, user_id: str, per_minute: int, now_ms: int) -> int:
        """0 if a token was taken, else the Retry-After seconds."""
        units, last = self._buckets.get(user_id, (per_minute * TOKEN_UNITS, now_ms))
        units, last, retry_after = take_token(units, last, now_ms, per_minute)
        self._buckets[user_id] = (units, last)
        return retry_after

    def sweep(self, now_ms: int) -> None:
        # A bucket left alone for a minute is full again: the same as no bucket.
        self._buckets = {u: b for u, b in self._buckets.items() if now_ms - b[1] < _MINUTE_MS}
