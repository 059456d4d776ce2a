"""/metrics: Prometheus' text format, scraped as Prometheus would, and off when turned off."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.apps import service_container, serving
from tests.support.constants import BASE, CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.tokens import auth_header
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return _samples(response.text)


async def test_a_scrape_counts_starts_ends_refusals_and_livekit_calls() -> None:
    gateway = InMemoryRoomGateway()
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=gateway,
        SESSION_MAX_LIVE_PER_USER="1",
    )
    async with serving(container) as client:
        before = await _scrape(client)
        assert before[("voicecore_live_sessions", frozenset())] == 0
        room = (await client.post(BASE, json={"agent_type": "diet"}, headers=auth_header("u1"))).json()[
            "room_name"
        ]
        refused = await client.post(BASE, json={"agent_type": "diet"}, headers=auth_header("u1"))
        assert refused.status_code == 429
        invalid = await client.post(BASE, json={"agent_type": "yoga"}, headers=auth_header("u1"))
        assert invalid.status_code == 422  # refused by the schema, before the use case: not counted
        during = await _scrape(client)
        assert during[("voicecore_live_sessions", frozenset())] == 1
        assert (await client.delete(f"{BASE}/{room}", headers=auth_header("u1"))).status_code == 200
        gateway.fail("get_room")
        failed = await client.get(f"{BASE}/{room}", headers=auth_header("u1"))
        gateway.recover()
        samples = await _scrape(client)

    assert samples[("voicecore_sessions_started_total", frozenset({("agent_type", "diet")}))] == 1
    assert samples[("voicecore_sessions_refused_total", frozenset({("reason", "live_session_cap")}))] == 1
    assert samples[("voicecore_sessions_ended_total", frozenset({("reason", "user_ended")}))] == 1
    assert samples[("voicecore_session_duration_seconds_count", frozenset())] == 1
    assert samples[("voicecore_live_sessions", frozenset())] == 0
    created = frozenset({("operation", "create_room")})
    assert samples[("voicecore_livekit_request_seconds_count", created)] == 1
    assert samples[("voicecore_livekit_request_seconds_sum", created)] >= 0
    assert ("voicecore_agent_join_seconds_count", frozenset()) in samples
    for trigger in ("watchdog", "rejoin"):  # none sent or refused: each at 0, there to be rated
        by_trigger = frozenset({("trigger", trigger)})
        assert samples[("voicecore_agent_redispatches_total", by_trigger)] == 0
        assert samples[("voicecore_agent_redispatch_budget_spent_total", by_trigger)] == 0
    assert ("voicecore_agent_misses_total", frozenset()) in samples
    assert failed.status_code == 500  # LiveKit failed: the documented 500
    assert samples[("voicecore_livekit_errors_total", frozenset({("operation", "get_room")}))] == 1
    assert ("voicecore_livekit_errors_total", created) not in samples


async def test_metrics_can_be_turned_off() -> None:
    container = service_container(
        CONFIGURED_LIVEKIT_URL,
        TEST_API_KEY,
        TEST_API_SECRET,
        room_gateway=InMemoryRoomGateway(),
        METRICS_ENABLED="false",
    )
    async with serving(container) as client:
        assert (await client.get("/metrics")).status_code == 404
