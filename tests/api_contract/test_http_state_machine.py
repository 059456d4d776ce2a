"""A state machine over the HTTP API: nobody reaches another user's session, ever.

Several users whose ids make one user's room names look like another's ("42",
"42-7", "7", "42-0123456789abcdef", plus "bad@id", which cannot name a room)
create, query, rejoin, end and list sessions, their own and everybody else's, and poke at
made-up names (well-formed but missing, malformed, too long, with NUL) and at
rooms created outside voicecore with foreign, garbage or forged metadata.

Invariants, checked on every answer:
- nobody reads, rejoins, ends or lists a session they do not own;
- every 2xx agrees with a plain model (room -> owner, agent type);
- every 4xx is exactly the documented one: 403 someone else's session, 404 missing
  or impossible or not a voice session, 401 bad credentials, 422 an id that cannot
  name a room; bodies carry nothing internal;
- the rooms that exist are exactly the model's (checked after every step).

The model's ownership rule (docs/architecture.md): a room is U's session iff its
metadata is readable voicecore metadata naming U and its name was made for U.
Runs on the in-memory gateway (many examples) and on the real LiveKit server.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from livekit import api

from tests.support.apps import LoopHarness, check_error, parse_utc, service_container, session_path
from tests.support.constants import (
    BASE,
    CONFIGURED_LIVEKIT_URL,
    INVALID_USER_ID,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    NOT_OWNER,
    TEST_API_KEY,
    TEST_API_SECRET,
)
from tests.support.figures import FIGURES
from tests.support.leak_guard import LeakGuard
from tests.support.tokens import auth_header, bad_auth
from voicecore.core.naming import can_name_rooms, room_name_prefix_for
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore_http.container import ServiceContainer

MEMORY_EXAMPLES, MEMORY_STEPS = 200, 30
LIVEKIT_EXAMPLES, LIVEKIT_STEPS = 15, 15

# One user's room names look like another's: "fitness-voice-42-7-<hex>" starts with
# "fitness-voice-42-", and "fitness-voice-42-0123456789abcdef" is both a possible
# name of a room of "42" and the prefix of every room of "42-0123456789abcdef".
# Identity-provider ids ("auth0|42") are escaped in names and extend each other too.
USER_SUFFIXES = ["42", "42-7", "7", "42-0123456789abcdef", "auth0|42", "auth0|42-7", "bad id"]
VALID_SUFFIXES = USER_SUFFIXES[:-1]
AGENT_TYPES = ["workout", "diet", "supplement", "tracker", "scheduler", "general"]
HEX16 = st.binary(min_size=8, max_size=8).map(bytes.hex)


def shaped_name(user: str, suffix_hex: str) -> str:
    """The name voicecore would make for ``user`` (written as is where the id cannot name rooms)."""
    prefix = room_name_prefix_for(user) if can_name_rooms(user) else f"fitness-voice-{user}-"
    return prefix + suffix_hex


class Backend(Protocol):
    """Where the rooms live: the in-memory gateway or the real server."""

    tag: str  # prefixes every user id, so that machines never share rooms
    api_secret: str
    livekit_url: str

    def container(self) -> ServiceContainer: ...
    async def open(self) -> None: ...
    async def put_room(self, name: str, metadata: str) -> None: ...
    async def room_names(self) -> set[str]: ...
    async def aclose(self) -> None: ...


class MemoryBackend:
    tag = ""
    api_secret = TEST_API_SECRET
    livekit_url = CONFIGURED_LIVEKIT_URL

    def __init__(self) -> None:
        self.gateway = InMemoryRoomGateway()

    def container(self) -> ServiceContainer:
        return service_container(
            CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=self.gateway
        )

    async def open(self) -> None:
        return None

    async def put_room(self, name: str, metadata: str) -> None:
        self.gateway.put_room(name, metadata)

    async def room_names(self) -> set[str]:
        return set(self.gateway.room_names)

    async def aclose(self) -> None:
        return None


class LiveKitBackend:
    """The shared session server; a direct livekit-api client plays "outside voicecore"."""

    def __init__(self, server: LocalLiveKitServer) -> None:
        self.server = server
        self.tag = f"sm{secrets.token_hex(3)}-"
        self.api_secret = server.api_secret
        self.livekit_url = server.url
        self._lk: api.LiveKitAPI | None = None

    def container(self) -> ServiceContainer:
        return service_container(self.server.url, self.server.api_key, self.server.api_secret)

    async def open(self) -> None:
        self._lk = api.LiveKitAPI(self.server.url, self.server.api_key, self.server.api_secret)

    @property
    def lk(self) -> api.LiveKitAPI:
        assert self._lk is not None
        return self._lk

    async def put_room(self, name: str, metadata: str) -> None:
        await self.lk.room.create_room(api.CreateRoomRequest(name=name, metadata=metadata, empty_timeout=300))

    async def room_names(self) -> set[str]:
        rooms = (await self.lk.room.list_rooms(api.ListRoomsRequest())).rooms
        return {room.name for room in rooms if self.tag in room.name}

    async def aclose(self) -> None:
        if self._lk is None:
            return
        try:
            for name in await self.room_names():
                await self.lk.room.delete_room(api.DeleteRoomRequest(room=name))
        finally:
            await self._lk.aclose()


@dataclass
class Stats:
    examples: int = 0
    requests: int = 0
    answers: dict[int, int] = field(default_factory=dict)

    def figures(self) -> str:
        by_status = ", ".join(f"{status}: {count}" for status, count in sorted(self.answers.items()))
        return f"{self.examples} examples, {self.requests} HTTP requests, answers {{{by_status}}}"


def voicecore_metadata(user_id: str, agent_type: str, *, version: int = 1) -> str:
    """Metadata as voicecore writes it, built independently of the encoder under test."""
    created_at = datetime.now(UTC).isoformat()
    payload = {"v": version, "user_id": user_id, "agent_type": agent_type, "mode": "voice"}
    return json.dumps({**payload, "created_at": created_at}, separators=(",", ":"))


class HttpSessionsMachine(RuleBasedStateMachine):
    rooms = Bundle("rooms")

    def __init__(self, backend: Backend, guard: LeakGuard, stats: Stats) -> None:
        super().__init__()
        self.backend = backend
        self.guard = guard
        self.stats = stats
        self.container = backend.container()
        self.harness = LoopHarness(self.container)
        self.harness.run(backend.open())
        self.headers = {suffix: auth_header(self.user(suffix)) for suffix in USER_SUFFIXES}
        self.sessions: dict[str, tuple[str, str]] = {}  # room -> (owner id, agent type)
        # Sessions the index knows: made through the API, or found by an index repair.
        # A room made outside voicecore is listed only once the repair (or its webhook) found it.
        self.indexed: set[str] = set()
        self.not_sessions: set[str] = set()  # rooms that exist but belong to nobody
        stats.examples += 1

    def teardown(self) -> None:
        try:
            self.harness.run(self.backend.aclose())
        finally:
            self.harness.close()

    # --- the model ---------------------------------------------------------------

    def user(self, suffix: str) -> str:
        return f"{self.backend.tag}{suffix}"

    def expected_status(self, user: str, room: str) -> int:
        if room not in self.sessions:
            return 404
        return 200 if self.sessions[room][0] == user else 403

    def call(self, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        response = self.harness.run(self.harness.client.request(method, url, headers=headers, **kwargs))
        self.stats.requests += 1
        self.stats.answers[response.status_code] = self.stats.answers.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        return response

    def check_refusal(self, response: httpx.Response, expected: int) -> None:
        assert response.status_code == expected, (expected, response.status_code, response.text)
        check_error(response, {403: NOT_OWNER, 404: NOT_FOUND}[expected], self.guard)

    # --- rules ---------------------------------------------------------------------

    @rule(
        target=rooms, suffix=st.sampled_from(USER_SUFFIXES), agent_type=st.sampled_from([None, *AGENT_TYPES])
    )
    def create(self, suffix: str, agent_type: str | None) -> Any:
        user = self.user(suffix)
        body = {} if agent_type is None else {"agent_type": agent_type}
        response = self.call("POST", BASE, self.headers[suffix], json=body)
        if suffix not in VALID_SUFFIXES:
            assert response.status_code == 422
            check_error(response, INVALID_USER_ID, self.guard)
            return multiple()
        assert response.status_code == 201, response.text
        created = response.json()
        room = created["room_name"]
        assert room.startswith(room_name_prefix_for(user))
        assert len(room) == len(room_name_prefix_for(user)) + 16
        assert room not in self.sessions
        assert room not in self.not_sessions
        assert created["agent_type"] == (agent_type or "general")
        assert created["livekit_url"] == self.backend.livekit_url
        claims = jwt.decode(created["token"], self.backend.api_secret, algorithms=["HS256"])
        assert (claims["sub"], claims["video"]["room"], claims["video"]["roomJoin"]) == (user, room, True)
        assert parse_utc(created["expires_at"]).timestamp() == claims["exp"]
        self.sessions[room] = (user, created["agent_type"])
        self.indexed.add(room)
        return room

    @rule(
        target=rooms,
        suffix=st.sampled_from(USER_SUFFIXES),
        other=st.sampled_from(VALID_SUFFIXES),
        shaped=st.booleans(),
        metadata=st.sampled_from(["valid", "forged owner", "other app", "future version", "not json", ""]),
        agent_type=st.sampled_from(AGENT_TYPES),
        suffix_hex=HEX16,
    )
    def room_made_outside_voicecore(
        self, *, suffix: str, other: str, shaped: bool, metadata: str, agent_type: str, suffix_hex: str
    ) -> Any:
        """A room someone else made on the same LiveKit project, with any metadata."""
        user = self.user(suffix)
        name = shaped_name(user, suffix_hex) if shaped else f"lobby-{user}-{suffix_hex}"
        if name in self.sessions or name in self.not_sessions:
            return multiple()
        named = self.user(other) if metadata == "forged owner" else user
        raw = {
            "valid": voicecore_metadata(user, agent_type),
            "forged owner": voicecore_metadata(named, agent_type),
            "other app": json.dumps({"user_id": user, "room": "gym"}),
            "future version": voicecore_metadata(user, agent_type, version=2),
            "not json": "{not json",
            "": "",
        }[metadata]
        self.harness.run(self.backend.put_room(name, raw))
        # A session of U: readable metadata naming U, in a name made for U. Nothing else is.
        is_session = (
            shaped
            and suffix in VALID_SUFFIXES
            and (metadata == "valid" or (metadata == "forged owner" and named == user))
        )
        if is_session:
            self.sessions[name] = (user, agent_type)
        else:
            self.not_sessions.add(name)
        return name

    @rule(
        target=rooms,
        suffix=st.sampled_from(USER_SUFFIXES),
        suffix_hex=HEX16,
        style=st.sampled_from(
            [
                "well-formed, missing",
                "short suffix",
                "uppercase suffix",
                "no suffix",
                "user id too long",
                "300 characters",
                "NUL inside",
                "NUL only",
                "space",
                "non-ASCII",
                "percent sign",
            ]
        ),
    )
    def made_up_name(self, suffix: str, suffix_hex: str, style: str) -> str:
        user = self.user(suffix)
        return {
            "well-formed, missing": shaped_name(user, suffix_hex),
            "short suffix": f"fitness-voice-{user}-{suffix_hex[:4]}",
            "uppercase suffix": f"fitness-voice-{user}-{suffix_hex.upper()}",
            "no suffix": f"fitness-voice-{user}",
            "user id too long": f"fitness-voice-{'a' * 226}-{suffix_hex}",
            "300 characters": "x" * 300,
            "NUL inside": f"fitness-voice-{user}-{suffix_hex}\x00",
            "NUL only": "\x00",
            "space": f"fitness voice {user} {suffix_hex}",
            "non-ASCII": f"fitness-voice-{user}ü-{suffix_hex}",
            "percent sign": f"fitness-voice-{user}%-{suffix_hex}",
        }[style]

    @rule(suffix=st.sampled_from(USER_SUFFIXES), room=rooms)
    def status(self, suffix: str, room: str) -> None:
        user = self.user(suffix)
        response = self.call("GET", session_path(room), self.headers[suffix])
        expected = self.expected_status(user, room)
        if expected != 200:
            self.check_refusal(response, expected)
            return
        assert response.status_code == 200, response.text
        body = response.json()
        assert {k: body[k] for k in ("room_name", "active", "participant_count", "agent_connected")} == {
            "room_name": room,
            "active": False,
            "participant_count": 0,
            "agent_connected": False,
        }
        parse_utc(body["created_at"])

    @rule(suffix=st.sampled_from(USER_SUFFIXES), room=rooms)
    def end(self, suffix: str, room: str) -> None:
        user = self.user(suffix)
        response = self.call("DELETE", session_path(room), self.headers[suffix])
        expected = self.expected_status(user, room)
        if expected != 200:
            self.check_refusal(response, expected)
            return
        assert (response.status_code, response.json()) == (200, {"status": "ended", "room_name": room})
        del self.sessions[room]
        self.indexed.discard(room)

    @rule()
    def repair_the_index(self) -> None:
        report = self.harness.run(self.container.repair().run_once())
        assert report is not None
        # (On the shared real server the repair also finds other tests' sessions.)
        assert set(self.sessions) - self.indexed <= set(report.added)
        self.indexed = set(self.sessions)

    @rule(suffix=st.sampled_from(USER_SUFFIXES), room=rooms, through_token_source=st.booleans())
    def rejoin(self, suffix: str, room: str, through_token_source: bool) -> None:
        user = self.user(suffix)
        if through_token_source:
            response = self.call(
                "POST", f"{BASE}/connection-details", self.headers[suffix], json={"room_name": room}
            )
        else:
            response = self.call("POST", f"{session_path(room)}/token", self.headers[suffix])
        expected = self.expected_status(user, room)
        if expected != 200:
            self.check_refusal(response, expected)
            return
        assert response.status_code == (201 if through_token_source else 200), response.text
        body = response.json()
        token = body["participant_token"] if through_token_source else body["token"]
        claims = jwt.decode(token, self.backend.api_secret, algorithms=["HS256"])
        assert (body["room_name"], claims["sub"], claims["video"]["room"]) == (room, user, room)

    @rule(suffix=st.sampled_from(USER_SUFFIXES))
    def list_sessions(self, suffix: str) -> None:
        user = self.user(suffix)
        response = self.call("GET", BASE, self.headers[suffix])
        assert response.status_code == 200, response.text
        listed = response.json()["sessions"]
        expected = {
            room: agent
            for room, (owner, agent) in self.sessions.items()
            if owner == user and room in self.indexed
        }
        assert {item["room_name"]: item["agent_type"] for item in listed} == expected
        assert len(listed) == len(expected)
        assert all(item["participant_count"] == 0 for item in listed)
        created = [parse_utc(item["created_at"]) for item in listed]
        assert created == sorted(created, reverse=True)  # newest first

    @rule(
        kind=st.sampled_from(sorted(bad_auth())),
        method=st.sampled_from(["POST", "GET one", "DELETE", "GET list"]),
        room=rooms,
    )
    def unauthenticated(self, kind: str, method: str, room: str) -> None:
        headers = bad_auth()[kind]
        if method == "POST":
            response = self.call("POST", BASE, headers, json={})
        elif method == "GET list":
            response = self.call("GET", BASE, headers)
        else:
            response = self.call(method.split(maxsplit=1)[0], session_path(room), headers)
        assert response.status_code == 401, (kind, method, response.text)
        check_error(response, NOT_AUTHENTICATED, self.guard)

    @invariant()
    def the_rooms_are_exactly_the_models(self) -> None:
        assert self.harness.run(self.backend.room_names()) == set(self.sessions) | self.not_sessions


def run_machine(
    factory: Callable[[Stats], HttpSessionsMachine], examples: int, steps: int, label: str
) -> None:
    stats = Stats()
    run_state_machine_as_test(
        lambda: factory(stats),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    FIGURES.record("HTTP state machine", f"{label}: {stats.figures()}")
    # Hypothesis may stop early only when the space is exhausted, which it is not here.
    assert stats.examples >= examples
    assert stats.answers.get(200, 0) > 0
    assert stats.answers.get(403, 0) > 0
    assert stats.answers.get(404, 0) > 0


def test_nobody_reaches_another_users_session_in_memory(log_leak_guard: LeakGuard) -> None:
    run_machine(
        lambda stats: HttpSessionsMachine(MemoryBackend(), log_leak_guard, stats),
        MEMORY_EXAMPLES,
        MEMORY_STEPS,
        f"in-memory gateway, {MEMORY_EXAMPLES} x up to {MEMORY_STEPS} steps",
    )


@pytest.mark.slow
def test_nobody_reaches_another_users_session_on_livekit(
    livekit_server: LocalLiveKitServer, log_leak_guard: LeakGuard
) -> None:
    run_machine(
        lambda stats: HttpSessionsMachine(LiveKitBackend(livekit_server), log_leak_guard, stats),
        LIVEKIT_EXAMPLES,
        LIVEKIT_STEPS,
        f"real LiveKit server, {LIVEKIT_EXAMPLES} x up to {LIVEKIT_STEPS} steps",
    )
