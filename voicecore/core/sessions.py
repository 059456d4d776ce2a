"""VoiceSessions: every use case voicecore offers, in one object (what hosts and the HTTP layer call).

Starting is core/creation.py; a live session's rejoin, status, end and list are
core/live_sessions.py; a user's history is core/session_history.py. This module
puts them behind one face, counts starts and refusals, and erases a user.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from voicecore.core.agents import AgentPresence
from voicecore.core.bounds import BoundsPolicy, Usage
from voicecore.core.creation import SessionCreator
from voicecore.core.domain import AgentType, GuardrailPolicy, SessionPolicy, User, parse_agent_type, utc_now
from voicecore.core.errors import VoiceCoreError
from voicecore.core.index import SessionIndex
from voicecore.core.journal import EndReason, JournalRecord
from voicecore.core.live_sessions import LiveSessions
from voicecore.core.log_context import LogContext
from voicecore.core.metrics import NO_METRICS, Metrics, refusal_reason
from voicecore.core.naming import can_name_rooms, escape_user_id, room_name_user_id
from voicecore.core.ports import RoomGateway, TokenIssuer
from voicecore.core.recorder import SessionRecorder
from voicecore.core.session_history import HistoryCursors, HistoryPage, SessionHistory
from voicecore.core.store import SessionStore
from voicecore.core.usage import UsageMeter
from voicecore.core.views import SessionStatus, SessionSummary, StartedSession

logger = logging.getLogger(__name__)

__all__ = [
    "ForgottenUser",
    "SessionStatus",
    "SessionSummary",
    "SessionUsage",
    "StartedSession",
    "VoiceSessions",
]


@dataclass(frozen=True, slots=True)
class ForgottenUser:
    """What ``forget_user`` removed."""

    live_sessions_ended: int
    records_erased: int
    undelivered_events_dropped: int
    idempotency_keys: int
    index_entries: int


@dataclass(frozen=True, slots=True)
class SessionUsage:
    """A user's usage in the current period (``Usage``), and the live-session cap (None: no cap)."""

    usage: Usage
    max_live_sessions: int | None


class VoiceSessions:
    """The use cases over one room gateway, one token issuer, the session store and the journal.

    Every method may also raise ``GatewayError`` (LiveKit failed or did not answer),
    ``StoreError`` (the session store did) and, where the journal is read or a start
    is recorded, ``JournalUnavailable``.
    """

    def __init__(
        self,
        gateway: RoomGateway,
        token_issuer: TokenIssuer,
        policy: SessionPolicy | None = None,
        *,
        store: SessionStore,
        recorder: SessionRecorder,
        guardrails: GuardrailPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: Metrics = NO_METRICS,
        history_key: bytes | None = None,
        bounds: BoundsPolicy | None = None,
        index: SessionIndex | None = None,
    ) -> None:
        """``index``: the replica's own, shared with its repair pass (built here if not given)."""
        self._gateway = gateway
        self._clock = clock
        self._policy = policy or SessionPolicy()
        self._store = store
        self._recorder = recorder
        self._metrics = metrics
        # An agent seen in the room bounds its first join, should LiveKit's webhook not come.
        presence = AgentPresence(gateway, store, self._policy, clock, on_agent_seen=recorder.agent_joined)
        self._guardrails = guardrails or GuardrailPolicy()
        self._meter = UsageMeter(recorder.journal, store, bounds or BoundsPolicy(), clock)
        self._creator = SessionCreator(
            gateway,
            token_issuer,
            self._policy,
            store=store,
            recorder=recorder,
            guardrails=self._guardrails,
            meter=self._meter,
            index=index or SessionIndex(gateway, store, clock, sleep=sleep),
            clock=clock,
            sleep=sleep,
        )
        self._live = LiveSessions(
            gateway,
            token_issuer,
            self._policy,
            store=store,
            recorder=recorder,
            presence=presence,
            clock=clock,
            metrics=metrics,
        )
        # Without a key of the deployment's, cursors are good for this object's life only.
        cursors = HistoryCursors(history_key or secrets.token_bytes(32))
        self._history = SessionHistory(recorder.journal, cursors, clock)

    async def start(
        self,
        user: User,
        agent_type: AgentType | str = AgentType.GENERAL,
        *,
        idempotency_key: str | None = None,
    ) -> StartedSession:
        """Create a room for ``user`` and a token that joins only it, and record the session.

        ``agent_type`` may be given as its value (``"diet"``). With an
        ``idempotency_key``, a retry gets the same session (see core/idempotency.py).
        Raises, before anything is created: ``InvalidUserId``, ``UnknownAgentType``,
        ``InvalidIdempotencyKey``, ``IdempotencyKeyReused``, ``IdempotencyKeyBusy``,
        ``CreationRateLimited`` and ``TooManyLiveSessions``; ``JournalUnavailable``
        when the session cannot be recorded (its room is removed again).
        """
        try:
            kind = parse_agent_type(agent_type)
            escape_user_id(user.id)  # InvalidUserId before anything is made
            started = await self._creator.start(user, kind, idempotency_key)
        except VoiceCoreError as exc:
            if (reason := refusal_reason(exc)) is not None:
                self._metrics.session_refused(reason)
            raise
        self._metrics.session_started(kind.value)
        return started

    async def rejoin(self, user: User, room_name: str) -> StartedSession:
        """A fresh token for ``user``'s own live session, with the same grants and lifetime as start.

        With an agent name configured, an agent is dispatched again when none is in the
        room and none is on its way: LiveKit does not re-dispatch when a user comes back.
        Raises ``SessionNotFound`` (missing, ended, or not a voice session) or
        ``NotSessionOwner``; nothing is created either way.
        """
        return await self._live.rejoin(user, room_name)

    async def status(self, user: User, room_name: str) -> SessionStatus:
        """Who is in ``user``'s session now. Raises ``SessionNotFound`` or ``NotSessionOwner``."""
        return await self._live.status(user, room_name)

    async def end(self, user: User, room_name: str) -> None:
        """Delete ``user``'s session; everyone in it is disconnected; its record says ``user_ended``.

        Raises ``SessionNotFound`` (also to every caller but one when ends race, on
        any replica) or ``NotSessionOwner``.
        """
        await self._live.end(user, room_name)

    async def list(self, user: User) -> list[SessionSummary]:
        """``user``'s live sessions, newest first; empty if there are none."""
        return await self._live.list(user)

    async def history(
        self,
        user: User,
        *,
        limit: int = 20,
        cursor: str | None = None,
        agent_type: AgentType | str | None = None,
        end_reason: EndReason | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> HistoryPage:
        """``user``'s sessions, live and ended, newest first (see SessionHistory.page)."""
        return await self._history.page(
            user,
            limit=limit,
            cursor=cursor,
            agent_type=None if agent_type is None else parse_agent_type(agent_type).value,
            end_reason=None if end_reason is None else EndReason(end_reason),
            since=since,
            until=until,
        )

    async def usage(self, user: User) -> SessionUsage:
        """``user``'s usage in the current period, and their live sessions (``JournalUnavailable``)."""
        used, _ = await self._meter.usage(user.id, self._meter.limit_seconds(user))
        return SessionUsage(used, self._guardrails.max_live_per_user or None)

    async def session_record(self, user: User, room_name: str) -> JournalRecord:
        """One of ``user``'s sessions, live or ended. Raises ``SessionNotFound`` or ``NotSessionOwner``."""
        return await self._history.record(user, room_name)

    async def erase_history(self, user: User) -> int:
        """Erase ``user``'s ended records (live ones stay, and are recorded when they end)."""
        return await self._history.erase(user)

    async def forget_user(self, user_id: str) -> ForgottenUser:
        """A host's account deletion: end the user's live sessions, then erase all voicecore keeps of them.

        Their records and undelivered events go from the journal, their idempotency
        keys and index entries from the store. Nothing about them is sent afterwards.
        """
        indexed = [r.room_name for r in await self._store.user_sessions(user_id)]
        recorded = [r.room_name for r in await self._recorder.journal.live(user_id)]
        live = sorted({*indexed, *recorded})
        ended = 0
        if can_name_rooms(user_id):
            for room_name in live:
                if room_name_user_id(room_name) == user_id and await self._gateway.delete_room(room_name):
                    ended += 1
        index_entries = len(await self._store.remove_sessions(live))
        keys = await self._store.forget_idempotency_keys(user_id)
        erased = await self._recorder.journal.erase_user(user_id)
        logger.info(
            "voice sessions of a user forgotten",
            extra=LogContext(user_id=user_id, session_count=erased.records),
        )
        return ForgottenUser(ended, erased.records, erased.undelivered_events, keys, index_entries)

    def now(self) -> datetime:
        """The use cases' clock: what a live session's duration so far is counted to."""
        return self._clock()

    @property
    def agent_name(self) -> str | None:
        """The agent every session gets, when one is configured by name."""
        return self._policy.agent_name

    @property
    def cleanups_pending(self) -> int:
        return self._creator.pending

    async def aclose(self) -> None:
        """Cancel background cleanups (at shutdown); empty_timeout covers what they leave."""
        await self._creator.aclose()
