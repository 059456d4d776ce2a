"""The Redis store's scripts' answers, read into the core's types; no Redis client here."""

from __future__ import annotations

from typing import Any

from voicecore.adapters.redis_index import IndexSeen
from voicecore.core.errors import StoreError
from voicecore.core.store import (
    Admission,
    Admitted,
    Claim,
    Claimed,
    Completed,
    InProgress,
    Mismatch,
    RateLimited,
    RoomTaken,
    SlotRefused,
    Unindexed,
)


def admission(answer: Any, seen: IndexSeen) -> Admission:
    """ADMIT_SESSION's answer; an admission also tells ``seen`` of the index marker it counted in."""
    match answer:
        case ["admitted", epoch, marked, admitted]:
            seen.saw(epoch, int(marked), int(admitted))
            return Admitted()
        case ["unindexed"]:
            return Unindexed()
        case ["taken"]:
            return RoomTaken()
        case ["rate", retry_after]:
            return RateLimited(int(retry_after))
        case ["full", live]:
            return SlotRefused(live=int(live))
    raise StoreError("admit_session", "unexpected answer from the script")


def claim(answer: Any) -> Claim:
    """CLAIM_KEY's answer."""
    match answer:
        case ["claimed"]:
            return Claimed()
        case ["in_progress"]:
            return InProgress()
        case ["completed", room_name]:
            return Completed(room_name)
        case ["mismatch"]:
            return Mismatch()
    raise StoreError("claim_idempotency_key", "unexpected answer from the script")
