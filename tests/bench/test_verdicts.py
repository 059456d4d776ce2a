"""Goals are judged from the figures a run recorded; a goal no phase measured says so."""

from __future__ import annotations

from typing import Any

import pytest

from bench import goals
from bench.phases.listing import other_rooms_ratios
from bench.verdicts import verdicts


def results(*, redis: bool) -> dict[str, Any]:
    services = ["api", "api_redis"] if redis else ["api"]
    create = {"api": {"p50_ms": 3.0}, "direct": {"p50_ms": 1.0}, "ratio_p50": {"api": 3.0}}
    status = {"api": {"p50_ms": 1.8}, "direct": {"p50_ms": 0.8}, "ratio_p50": {"api": 2.25}}
    if redis:
        # The Redis store adds 0.5 ms to create and 0.1 ms to status; the floor's bare call 0.25 and 0.1.
        create |= {"api_redis": {"p50_ms": 3.5}, "floor_proxy": {"p50_ms": 2.0}}
        create["floor_proxy_redis"] = {"p50_ms": 2.25}
        status |= {"api_redis": {"p50_ms": 1.9}, "floor_proxy": {"p50_ms": 1.5}}
        status["floor_proxy_redis"] = {"p50_ms": 1.6}
    return {
        "create": create,
        "status": status,
        "throughput": {"ratio_rps": {"api": 0.8}},
        "list": {
            "stores": dict.fromkeys(services, "a store"),
            "ratio_other_rooms_p50": {"api": 1.2, "api_redis": 4.0},
        },
    }


def judged(run: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(v["goal"], v["subject"]): v for v in verdicts(run)["verdicts"]}


def test_each_store_is_judged_on_the_list_goal() -> None:
    found = judged(results(redis=True))
    assert found[goals.LIST_WITH_OTHER_ROOMS.key, "api"]["met"] is True
    assert found[goals.LIST_WITH_OTHER_ROOMS.key, "api_redis"]["met"] is False


def test_the_redis_store_is_judged_on_what_it_adds_over_what_the_floor_s_call_adds() -> None:
    found = judged(results(redis=True))
    create = found[goals.REDIS_CREATE_ADDED_VS_FLOOR.key, "api_redis"]
    status = found[goals.REDIS_STATUS_ADDED_VS_FLOOR.key, "api_redis"]
    assert (create["value"], create["met"]) == (pytest.approx(2.0), False)
    assert (status["value"], status["met"]) == (pytest.approx(1.0), True)
    assert (create["added_ms"], create["floor_added_ms"]) == (pytest.approx(0.5), pytest.approx(0.25))


def test_no_ratio_is_formed_when_the_floor_s_call_added_nothing() -> None:
    run = results(redis=True)
    run["status"]["floor_proxy_redis"] = {"p50_ms": 1.45}
    judgement = verdicts(run)
    assert goals.REDIS_STATUS_ADDED_VS_FLOOR.key in judgement["not_judged"]
    assert goals.REDIS_STATUS_ADDED_VS_FLOOR.key not in judgement["not_measured_yet"]
    assert (goals.REDIS_STATUS_ADDED_VS_FLOOR.key, "api_redis") not in judged(run)


def test_goals_without_figures_are_listed_as_not_measured() -> None:
    judgement = verdicts(results(redis=False))
    assert goals.REDIS_CREATE_ADDED_VS_FLOOR.key in judgement["not_measured_yet"]
    assert goals.GUARDRAILS_CREATE_P50.key in judgement["not_measured_yet"]
    assert goals.CREATE_P50_VS_DIRECT.key not in judgement["not_measured_yet"]
    assert {(goals.THROUGHPUT_VS_DIRECT.key, "api")} <= set(judged(results(redis=False)))


@pytest.mark.parametrize(("value", "met"), [(1.29, True), (1.3, True), (1.31, False)])
def test_a_ceiling(value: float, met: bool) -> None:
    assert goals.CREATE_P50_VS_DIRECT.met(value) is met


@pytest.mark.parametrize(("value", "met"), [(0.74, False), (0.75, True), (2.0, True)])
def test_a_floor(value: float, met: bool) -> None:
    assert goals.THROUGHPUT_VS_DIRECT.met(value) is met


def test_the_list_ratio_needs_both_levels() -> None:
    level = {"api": {"p50_ms": 2.0}}
    crowded = {"api": {"p50_ms": 3.0}}
    assert other_rooms_ratios({"0": level, "500": crowded}, ["api"]) == {}
    assert other_rooms_ratios({"0": level, str(goals.LIST_OTHER_ROOMS): crowded}, ["api"]) == {"api": 1.5}


@pytest.mark.parametrize(("commands", "caveat"), [(0, True), (12, False)])
def test_redis_verdicts_say_when_no_service_used_redis(commands: int, caveat: bool) -> None:
    run = results(redis=True) | {"redis": {"commands_from_services": commands}}
    for (_, subject), verdict in judged(run).items():
        assert ("caveat" in verdict) is (caveat and subject == "api_redis")
