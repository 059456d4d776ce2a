"""How much each run measures: the full plan (``make bench``) and the quick one (``make bench-quick``)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.goals import LIST_OTHER_ROOMS


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
    flood_rounds: int  # the /metrics flood phase: rounds of quiet and flooded blocks per service
    flood_block: int  # back-to-back samples per operation, service and condition per round


FULL = Plan("full", 100, 20, 2, 30, 5, (0, 500, LIST_OTHER_ROOMS), 2, 1200, 6, 32, 64, 10, 20, 30, 10)
QUICK = Plan("quick", 10, 10, 1, 6, 3, (0, 500, LIST_OTHER_ROOMS), 2, 200, 2, 32, 32, 3, 6, 8, 10)
