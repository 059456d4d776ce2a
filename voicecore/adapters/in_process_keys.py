"""The in-process store's idempotency keys: each kept for its TTL, and never more than a bound in all.

A key is remembered for its TTL (24 h for the service) from its claim. The creation
rate bounds how many one user makes, but not how many all users make, and each costs
the process memory (docs/http-api.md has the figure). So at most ``max_keys`` are
kept: claiming one more forgets the oldest finished claim first (completed, or
lapsed: its lease ran out unfinished, or its TTL did), oldest by when it was claimed.
Only when every kept claim is still in progress does the oldest of those go; with
the bound far above the requests one process can have in flight, that does not
happen. A forgotten key is a new key: a retry with it starts a new session (behind
the live-session cap), as after its TTL.

Like the store, every method runs to completion without awaiting: each is atomic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from voicecore.core.store import Claim, Claimed, Completed, InProgress, Mismatch

# About 32 MB of claims with UUID user ids and keys, 42 MB with the longest keys (docs/http-api.md).
DEFAULT_MAX_IDEMPOTENCY_KEYS: Final = 50_000


@dataclass
class _Claim:
    fingerprint: str
    holder: str
    room_name: str | None
    lease_until_ms: int
    expires_ms: int

    def in_progress(self, now: int) -> bool:
        return self.room_name is None and self.lease_until_ms > now and self.expires_ms > now


class IdempotencyKeys:
    def __init__(self, max_keys: int = DEFAULT_MAX_IDEMPOTENCY_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        # (user, key) -> claim, oldest claim first: a key claimed anew moves to the end.
        self._claims: dict[tuple[str, str], _Claim] = {}

    def claim(
        self,
        user_id: str,
        key: str,
        fingerprint: str,
        holder: str,
        *,
        now: int,
        ttl_ms: int,
        lease_ms: int,
        live: Callable[[str], bool],
    ) -> Claim:
        """As ``SessionStore.claim_idempotency_key``; ``live`` says whether a session is live."""
        claim = self._claims.get((user_id, key))
        if claim is not None and claim.expires_ms > now:
            if claim.in_progress(now):
                if claim.fingerprint != fingerprint:
                    return Mismatch()
                return Claimed() if claim.holder == holder else InProgress()
            if claim.room_name is not None and live(claim.room_name):
                if claim.fingerprint != fingerprint:
                    return Mismatch()
                return Completed(claim.room_name)
        self._claims.pop((user_id, key), None)
        self._make_room(now)
        self._claims[(user_id, key)] = _Claim(
            fingerprint, holder, None, lease_until_ms=now + lease_ms, expires_ms=now + ttl_ms
        )
        return Claimed()

    def _make_room(self, now: int) -> None:
        while len(self._claims) >= self._max_keys:
            finished = next((k for k, c in self._claims.items() if not c.in_progress(now)), None)
            del self._claims[finished if finished is not None else next(iter(self._claims))]

    def complete(self, user_id: str, key: str, *, holder: str, room_name: str, now: int) -> bool:
        claim = self._unfinished(user_id, key, holder, now)
        if claim is None:
            return False
        claim.room_name = room_name
        return True

    def release(self, user_id: str, key: str, *, holder: str, now: int) -> bool:
        if self._unfinished(user_id, key, holder, now) is None:
            return False
        del self._claims[(user_id, key)]
        return True

    def forget_user(self, user_id: str) -> int:
        keys = [claimed for claimed in self._claims if claimed[0] == user_id]
        for claimed in keys:
            del self._claims[claimed]
        return len(keys)

    def sweep(self, now: int) -> None:
        """Forget the claims whose TTL has run out."""
        self._claims = {k: c for k, c in self._claims.items() if c.expires_ms > now}

    def _unfinished(self, user_id: str, key: str, holder: str, now: int) -> _Claim | None:
        claim = self._claims.get((user_id, key))
        if claim is None or claim.expires_ms <= now or claim.room_name is not None or claim.holder != holder:
            return None
        return claim
