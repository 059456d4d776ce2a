"""How much each run measures: the full plan (``make bench``) and the quick one (``make bench-quick``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.goals import HISTORY_OTHER_RECORDS, LIST_OTHER_ROOMS


@dataclass(frozen=True)
class Plan:
    mode: str
    latency_rounds: int  # per phase; each round is one block per side
    latency_block: int  # back-to-back samples per side per round
    warmup_rounds: int
    list_rounds: int
    list_block: int
    list_levels: tuple[int, ...]  # other users' rooms present while listing
    owned_rooms: int  # the listing user's own sessions
    throughput_count: int  # requests per side, over throughput_rounds bursts
    throughput_rounds: int
    in_flight: int
    warmup_burst: int
    call_rounds: int  # repetitions of create, status, list and end behind the counting proxy
    agent_sessions: int  # per side, in the time-to-agent phase
    history_rounds: int  # the history phase's latency rounds (the plan's block each)
    page_rounds: int  # rounds over every page of a long history (shuffled), per database
    history_other_records: Mapping[str, int]  # other users' records in the full journal, per database
    webhook_events: int  # sessions started at WEBHOOK_RATE per database, in the app-webhooks phase
    flood_rounds: int  # the /metrics flood phase: rounds of quiet and flooded blocks per service
    flood_block: int  # back-to-back samples per operation, service and condition per round


FULL = Plan(
    "full",
    100,
    20,
    2,
    30,
    5,
    (0, 500, LIST_OTHER_ROOMS),
    2,
    1200,
    6,
    32,
    64,
    10,
    20,
    50,
    10,
    HISTORY_OTHER_RECORDS,
    1000,
    30,
    10,
)
QUICK = Plan(
    "quick",
    10,
    10,
    1,
    6,
    3,
    (0, 500, LIST_OTHER_ROOMS),
    2,
    200,
    2,
    32,
    32,
    3,
    6,
    10,
    2,
    HISTORY_OTHER_RECORDS,
    200,
    8,
    10,
)
