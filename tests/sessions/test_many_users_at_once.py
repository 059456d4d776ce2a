"""Many users at once on the real server: distinct rooms, each owned, listed and ended by its owner."""

from __future__ import annotations

import asyncio

import httpx
import jwt

from tests.support.apps import check_error, session_path
from tests.support.constants import BASE, NOT_OWNER
from tests.support.figures import FIGURES, timed
from tests.support.leak_guard import LeakGuard
from tests.support.livekit import unique_user_id
from tests.support.tokens import auth_header
from voicecore.testing.livekit_server import LocalLiveKitServer

USERS = 10


CREATES = 100


AGENT_TYPES = ["workout", "diet", "supplement", "tracker", "scheduler", "general"]


def look_alike_users() -> list[str]:
    """Ten ids, most of them prefixes of others: "u", "u-1", "u-1-1", ..."""
    base = unique_user_id("conc")
    users = [base, *(f"{base}-{i}" for i in range(1, 8)), f"{base}-1-1", f"{base}-1-1-1"]
    assert len(users) == USERS
    return users


async def test_concurrent_creates_across_users_give_distinct_rooms_each_owned_and_listed(
    livekit_client: httpx.AsyncClient, livekit_server: LocalLiveKitServer, log_leak_guard: LeakGuard
) -> None:
    client = livekit_client
    users = look_alike_users()
    headers = {user: auth_header(user) for user in users}
    plan = [(users[i % USERS], AGENT_TYPES[i % len(AGENT_TYPES)]) for i in range(CREATES)]

    created, create_seconds = await timed(
        asyncio.gather(*(client.post(BASE, json={"agent_type": a}, headers=headers[u]) for u, a in plan))
    )
    assert [r.status_code for r in created] == [201] * CREATES
    rooms = [r.json() for r in created]
    names = [room["room_name"] for room in rooms]
    assert len(set(names)) == CREATES
    owner_of = {}
    for (user, agent_type), room in zip(plan, rooms, strict=True):
        assert room["room_name"].startswith(f"fitness-voice-{user}-")
        assert len(room["room_name"]) == len(f"fitness-voice-{user}-") + 16
        assert room["agent_type"] == agent_type
        claims = jwt.decode(room["token"], livekit_server.api_secret, algorithms=["HS256"])
        assert (claims["sub"], claims["video"]["room"]) == (user, room["room_name"])
        owner_of[room["room_name"]] = user

    lists = await asyncio.gather(*(client.get(BASE, headers=headers[user]) for user in users))
    for user, listed in zip(users, lists, strict=True):
        items = listed.json()["sessions"]
        assert {i["room_name"]: i["agent_type"] for i in items} == {
            r["room_name"]: r["agent_type"] for (u, _), r in zip(plan, rooms, strict=True) if u == user
        }

    # Everyone reads their own and tries the next user's, all at once.
    intruder = {user: users[(i + 1) % USERS] for i, user in enumerate(users)}
    own, foreign = await asyncio.gather(
        asyncio.gather(*(client.get(session_path(n), headers=headers[owner_of[n]]) for n in names)),
        asyncio.gather(*(client.get(session_path(n), headers=headers[intruder[owner_of[n]]]) for n in names)),
    )
    assert [r.status_code for r in own] == [200] * CREATES
    for response in foreign:
        assert response.status_code == 403
        check_error(response, NOT_OWNER, log_leak_guard)
    cross_ends = await asyncio.gather(
        *(client.delete(session_path(n), headers=headers[intruder[owner_of[n]]]) for n in names)
    )
    assert [r.status_code for r in cross_ends] == [403] * CREATES

    ended, end_seconds = await timed(
        asyncio.gather(*(client.delete(session_path(n), headers=headers[owner_of[n]]) for n in names))
    )
    assert [r.status_code for r in ended] == [200] * CREATES
    lists = await asyncio.gather(*(client.get(BASE, headers=headers[user]) for user in users))
    assert [listed.json() for listed in lists] == [{"sessions": []}] * USERS
    FIGURES.record(
        "Concurrency (real LiveKit)",
        f"{CREATES} concurrent creates over {USERS} look-alike users in {create_seconds:.2f} s: "
        f"{len(set(names))} distinct rooms, each listed to its owner only; {CREATES} owner reads 200, "
        f"{CREATES} cross reads 403, {CREATES} cross ends 403, "
        f"{CREATES} concurrent ends 200 in {end_seconds:.2f} s",
    )
