"""Guardrails on creating sessions, each one atomic in the session store across replicas.

Every session dispatches a paid agent (speech-to-text, an LLM, text-to-speech),
so a user may have at most ``max_live_per_user`` live sessions and start at most
``creates_per_minute`` (a token bucket); 0 turns either off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from voicecore.core.errors import CreationRateLimited, TooManyLiveSessions
from voicecore.core.index import confirmed_rooms
from voicecore.core.ports import RoomGateway
from voicecore.core.store import RateLimited, SessionStore, SlotRefused

# A reservation outlives any create (LiveKit timeout, then the half-made-room check).
SLOT_LEASE: Final = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class GuardrailPolicy:
    max_live_per_user: int = 3
    creates_per_minute: int = 10

    def __post_init__(self) -> None:
        if self.max_live_per_user < 0 or self.creates_per_minute < 0:
            raise ValueError("guardrail limits cannot be negative (0 turns one off)")


class CreationGuard:
    def __init__(
        self,
        store: SessionStore,
        gateway: RoomGateway,
        policy: GuardrailPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._gateway = gateway
        self._policy = policy
        self._clock = clock

    async def take_creation_token(self, user_id: str) -> None:
        """Raises CreationRateLimited past the user's creation rate."""
        if not self._policy.creates_per_minute:
            return
        decision = await self._store.take_creation_token(user_id, per_minute=self._policy.creates_per_minute)
        if isinstance(decision, RateLimited):
            raise CreationRateLimited(decision.retry_after_seconds)

    async def reserve_slot(self, user_id: str, room_name: str) -> None:
        """Hold a live-session slot for ``room_name``; raises TooManyLiveSessions at the cap.

        ``add_session`` of that room confirms the slot; ``release_slot`` gives it back.
        A refusal is checked once against LiveKit: a session that expired unseen
        (its webhook lost) must not hold a slot until the next index repair.
        """
        limit = self._policy.max_live_per_user
        if not limit:
            return
        outcome = await self._store.reserve_slot(user_id, room_name, limit=limit, lease=SLOT_LEASE)
        if isinstance(outcome, SlotRefused):
            await confirmed_rooms(user_id, self._store, self._gateway, self._clock)
            outcome = await self._store.reserve_slot(user_id, room_name, limit=limit, lease=SLOT_LEASE)
        if isinstance(outcome, SlotRefused):
            raise TooManyLiveSessions(live=outcome.live + outcome.pending, limit=limit)

    async def release_slot(self, user_id: str, room_name: str) -> None:
        if self._policy.max_live_per_user:
            await self._store.release_slot(user_id, room_name)
