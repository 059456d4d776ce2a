"""Guardrails on creating sessions, each one atomic in the session store across replicas.

Every session dispatches a paid agent (speech-to-text, an LLM, text-to-speech),
so a user may have at most ``max_live_per_user`` live sessions and start at most
``creates_per_minute`` (a token bucket); 0 turns either off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from voicecore.core.errors import CreationRateLimited, TooManyLiveSessions
from voicecore.core.index import confirmed_rooms
from voicecore.core.ports import RoomGateway
from voicecore.core.store import Admitted, RateLimited, RoomTaken, SessionRecord, SessionStore, SlotRefused


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

    async def admit(self, record: SessionRecord, *, rate_paid: bool = False) -> bool:
        """Record the new session behind both guardrails, in one store step; False if its room is taken.

        Raises CreationRateLimited past the user's rate (unless this create already
        paid its token: ``rate_paid``) and TooManyLiveSessions at the cap. A refusal
        at the cap is checked once against LiveKit: a session that expired unseen
        (its webhook lost) must not hold a slot until the next index repair.
        """
        limit = self._policy.max_live_per_user
        per_minute = 0 if rate_paid else self._policy.creates_per_minute
        outcome = await self._store.admit_session(record, max_live=limit, per_minute=per_minute)
        if isinstance(outcome, SlotRefused):
            await confirmed_rooms(record.user_id, self._store, self._gateway, self._clock)
            # The refused attempt took this create's token.
            outcome = await self._store.admit_session(record, max_live=limit, per_minute=0)
        match outcome:
            case Admitted():
                return True
            case RoomTaken():
                return False
            case RateLimited(retry_after_seconds=retry_after):
                raise CreationRateLimited(retry_after)
            case SlotRefused(live=live, pending=pending):
                raise TooManyLiveSessions(live=live + pending, limit=limit)
