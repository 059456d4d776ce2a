"""Idempotent starts (the IETF Idempotency-Key draft): one key, one session, across replicas.

A user's key is remembered for 24 hours. A retry with the same key and the same
request gets the same session (with a fresh token); with another request, a
``IdempotencyKeyReused``. A retry while the first request is still creating
waits for it, up to a bound, then is ``IdempotencyKeyBusy``. A key whose create
failed, or whose session has ended, starts a new session.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from voicecore.core.errors import IdempotencyKeyBusy, IdempotencyKeyReused, InvalidIdempotencyKey
from voicecore.core.store import Claimed, Completed, InProgress, Mismatch, SessionStore

KEY_TTL: Final = timedelta(hours=24)
# An unfinished claim lapses after this (its holder may have died mid-create).
CLAIM_LEASE: Final = timedelta(seconds=60)
# How long a retry waits for the first request before answering "busy".
WAIT_FOR_FIRST: Final = timedelta(seconds=10)
_POLL_SECONDS: Final = 0.1
MAX_KEY_LENGTH: Final = 255


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidIdempotencyKey(f"use 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """The caller must create the session, then ``complete`` or ``release`` the claim."""

    user_id: str
    key: str
    holder: str


class IdempotencyKeys:
    def __init__(
        self, store: SessionStore, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        self._store = store
        self._sleep = sleep

    async def claim(self, user_id: str, key: str, fingerprint: str) -> KeyClaim | str:
        """A claim to create with, or the room the key already made."""
        holder = uuid.uuid4().hex
        waited = 0.0
        while True:
            outcome = await self._store.claim_idempotency_key(
                user_id,
                check_key(key),
                fingerprint=fingerprint,
                holder=holder,
                ttl=KEY_TTL,
                lease=CLAIM_LEASE,
            )
            match outcome:
                case Claimed():
                    return KeyClaim(user_id, key, holder)
                case Completed(room_name=room_name):
                    return room_name
                case Mismatch():
                    raise IdempotencyKeyReused
                case InProgress() if waited < WAIT_FOR_FIRST.total_seconds():
                    await self._sleep(_POLL_SECONDS)
                    waited += _POLL_SECONDS
                case InProgress():
                    raise IdempotencyKeyBusy

    async def complete(self, claim: KeyClaim, room_name: str) -> None:
        await self._store.complete_idempotency_key(
            claim.user_id, claim.key, holder=claim.holder, room_name=room_name
        )

    async def release(self, claim: KeyClaim) -> None:
        await self._store.release_idempotency_key(claim.user_id, claim.key, holder=claim.holder)
