"""Issue 20's bench phases at a tiny scale: the enforcement runs end every due session for the right reason.

The real SessionBounds, store, SQLite journal and gateway, as the bench builds them;
only counts and shapes are checked here (speed targets live in the bench alone).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import goals
from bench.enforcement import Outcome, run_scenario
from bench.enforcement_scenario import ROOM_PREFIX, Scenario, Servers
from bench.phases.bounds import enforcement_plot, enforcement_scenarios, table_lines
from bench.targets import LiveKitAccess, bounds_targets, service_environment
from bench.verdicts import bounds_verdicts
from voicecore.settings import load_settings
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.redis_server import LocalRedisServer

AUTH_SECRET = "an-auth-secret-of-at-least-thirty-two-characters"
UNUSED_LIVEKIT = LiveKitAccess("ws://127.0.0.1:9", "APIbench", "a-livekit-secret-long-enough-for-tests")


@contextlib.contextmanager
def servers(
    tmp_path: Path, redis: LocalRedisServer, livekit: LiveKitAccess = UNUSED_LIVEKIT
) -> Iterator[Servers]:
    yield Servers(
        livekit,
        AUTH_SECRET,
        f"redis://127.0.0.1:{redis.port}/15",
        {},
        tmp_path,
        tmp_path / "bounds-enforcer.log",
    )


def left_behind(scratch: Path) -> tuple[str, list[Path]]:
    """The run's log, and any journal file it left."""
    return (scratch / "bounds-enforcer.log").read_text(), sorted(scratch.glob("journal-*"))


def tiny(store: str, reason: str, **extra: object) -> Scenario:
    return Scenario(store, 12, 4, reason, idle_seconds=1.0, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("store", ["memory", "redis"])
@pytest.mark.parametrize("reason", ["max_duration", "usage_exhausted"])
async def test_every_due_session_is_ended_for_its_reason_and_timed(
    tmp_path: Path, redis_server: LocalRedisServer, store: str, reason: str
) -> None:
    made: set[str] = set()
    with servers(tmp_path, redis_server) as where:
        outcome = await run_scenario(tiny(store, reason), where, "t", made)
    figures = outcome.figures
    assert figures["all_ended_as_expected"], figures
    assert figures["ended_in_journal"] == {reason: 12}
    assert figures["missed"] == 0
    assert len(outcome.lags) == figures["lag"]["n"] == 12
    assert all(lag >= 0 for lag in outcome.lags)  # nothing ended before its deadline
    assert figures["idle_pass"]["n"] >= 1  # passes with every session live and none due
    assert figures["working_passes"] >= 1
    assert sum(figures["cpu_ms_per_session_ended"].values()) > 0
    assert len(made) == 12
    assert all(name.startswith(ROOM_PREFIX) for name in made)
    log, journals = left_behind(tmp_path)
    assert "voice session ended by the server" in log  # logged at INFO, as the service logs
    assert journals == []  # each run's journal is removed


async def test_only_the_sessions_falling_due_are_ended(
    tmp_path: Path, redis_server: LocalRedisServer
) -> None:
    with servers(tmp_path, redis_server) as where:
        outcome = await run_scenario(
            tiny("redis", "max_duration", due=5, spread_seconds=0.5), where, "t", set()
        )
    assert outcome.figures["ended_in_journal"] == {"max_duration": 5}
    assert outcome.figures["all_ended_as_expected"]
    assert len(outcome.lags) == 5


async def test_on_the_real_livekit_server_the_rooms_are_deleted(
    tmp_path: Path, redis_server: LocalRedisServer, livekit_server: LocalLiveKitServer
) -> None:
    livekit = LiveKitAccess(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)
    with servers(tmp_path, redis_server, livekit) as where:
        outcome = await run_scenario(tiny("memory", "max_duration", gateway="livekit"), where, "t", set())
    assert outcome.figures["all_ended_as_expected"], outcome.figures
    assert "livekit-server" not in outcome.figures["cpu_ms_per_session_ended"]  # no pid given here


def test_a_user_s_sessions_share_one_allowance_so_they_fall_due_together() -> None:
    with pytest.raises(ValueError, match="all of them fall due, or none"):
        Scenario("memory", 12, 4, "usage_exhausted", due=5)
    with pytest.raises(ValueError, match="same number"):
        Scenario("memory", 10, 4, "max_duration")


def test_the_full_plan_measures_what_the_issue_asks() -> None:
    full = enforcement_scenarios("full")
    for store in ("memory", "redis"):
        mine = [s for s in full if s.store == store]
        assert {(s.sessions, s.users) for s in mine} == {(1_000, 1_000), (goals.BOUNDS_LAG_SESSIONS, 1_000)}
        assert any(s.gateway == "livekit" and s.sessions == 1_000 for s in mine)
        assert any(
            s.sessions == goals.BOUNDS_LAG_SESSIONS and s.due is None and not s.spread_seconds for s in mine
        )
        assert {s.reason for s in mine} == {"max_duration", "usage_exhausted"}
    assert max(s.sessions for s in enforcement_scenarios("quick")) < goals.BOUNDS_LAG_SESSIONS


def test_the_allowance_targets_differ_only_in_the_allowance(tmp_path: Path) -> None:
    for on, off in bounds_targets(tmp_path).values():
        read = [
            load_settings(service_environment(t, UNUSED_LIVEKIT, AUTH_SECRET, "redis://127.0.0.1:1/0"))
            for t in (on, off)
        ]
        assert read[0].bounds_policy().usage_limit_minutes == 10_000_000
        assert read[1].bounds_policy().usage_limit_minutes == 0
        assert read[0].journal_location() != read[1].journal_location()  # a journal each
        differ = {k for k in on.env.keys() | off.env.keys() if on.env.get(k) != off.env.get(k)}
        assert differ == {"USAGE_LIMIT_MINUTES", "JOURNAL_URL"}
        assert on.store == off.store


def _run(sessions: int, lag_max: float, missed: int = 0) -> dict[str, object]:
    return {
        "label": f"memory, {sessions} live",
        "sessions": sessions,
        "missed": missed,
        "lag": {"p50_s": 0.5, "p99_s": lag_max, "max_s": lag_max},
        "pass": {"p50_ms": 10.0},
        "cpu_ms_per_session_ended": {"bench": 1.0},
        "all_ended_as_expected": not missed,
    }


def test_the_lag_goal_is_judged_on_the_10_000_runs_only_and_a_miss_fails_it() -> None:
    results = {
        "bounds_create": {
            "stores": {"memory": {"on": "allowance_on_memory", "create_p50_ratio": 1.05, "create_p50_ms": {}}}
        },
        "bounds_enforcement": {
            "scenarios": {
                "small": _run(1_000, 9.0),
                "big": _run(10_000, 4.0),
                "lost": _run(10_000, 1.0, missed=3),
            }
        },
    }
    judged = {(v["goal"], v["subject"]): v for v in bounds_verdicts(results)}
    assert judged[("bounds_create_p50_ratio", "allowance_on_memory")]["met"] is True
    assert judged[("bounds_lag_max_s", "big")]["met"] is True
    assert judged[("bounds_lag_max_s", "lost")]["met"] is False
    assert ("bounds_lag_max_s", "small") not in judged


def test_the_plot_and_the_table_lines(tmp_path: Path) -> None:
    outcomes = [
        Outcome(tiny("memory", "max_duration"), _run(12, 2.0), [0.0, 0.4, 2.0]),
        Outcome(tiny("redis", "max_duration"), _run(12, 30.0), [1.0] * 12),
    ]
    path = enforcement_plot(tmp_path / "latest-enforcement.png", outcomes)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1560, 780)
    lines = table_lines({"bounds_enforcement": {"scenarios": {o.scenario.key: o.figures for o in outcomes}}})
    assert len(lines) == 3
