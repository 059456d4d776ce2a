"""The benchmark's goals: every limit the issues set, named once.

The report judges figures against these, and docs/benchmarks.md carries the table
``markdown_table()`` prints (``python -m bench.goals``); a test keeps the two equal.
A goal no phase measures yet is listed, and judged as soon as a phase records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Bound = Literal["max", "min"]


@dataclass(frozen=True)
class Goal:
    key: str  # its name in bench-results/latest.json
    what: str
    limit: float
    bound: Bound
    source: str
    unit: str = "x"  # a ratio, unless a goal says otherwise

    def met(self, value: float) -> bool:
        return value <= self.limit if self.bound == "max" else value >= self.limit

    @property
    def limit_text(self) -> str:
        return f"{'<=' if self.bound == 'max' else '>='} {self.limit:g}{self.unit}"

    def judge(self, subject: str, value: float) -> dict[str, object]:
        return {
            "goal": self.key,
            "subject": subject,
            "value": value,
            "limit": self.limit,
            "bound": self.bound,
            "met": self.met(value),
        }


# The list goal compares a user's list with this many other users' rooms against none.
LIST_OTHER_ROOMS: Final = 2_000
# Issue 22: a user with this many live sessions of their own creates as fast as one with none.
OWN_SESSIONS: Final = 2_000
# The history goals: a user with HISTORY_OWN_RECORDS records, with this many other users' records
# in the journal against none, per database; and a walk through one user's PAGED_RECORDS.
HISTORY_OWN_RECORDS: Final = 20
HISTORY_OTHER_RECORDS: Final = {"sqlite": 200_000, "postgres": 1_000_000}
PAGED_RECORDS: Final = 10_000
# Pages compared at each end of that walk: the first and the last tenth.
PAGE_ENDS_SHARE: Final = 0.1
# The /metrics flood goal: this many scrapes a second, against a store holding this many live sessions.
FLOOD_SCRAPES_PER_SECOND: Final = 50
FLOOD_LIVE_SESSIONS: Final = 20_000

CREATE_P50_VS_DIRECT: Final = Goal(
    "create_ratio_p50", "create p50, the service over direct livekit-api", 1.3, "max", "issue 6"
)
STATUS_P50_VS_DIRECT: Final = Goal(
    "status_ratio_p50", "status p50, the service over direct livekit-api", 1.3, "max", "issue 6"
)
THROUGHPUT_VS_DIRECT: Final = Goal(
    "throughput_ratio", "creates/s with many in flight, the service over direct", 0.75, "min", "issue 6"
)
LIST_WITH_OTHER_ROOMS: Final = Goal(
    "list_ratio_other_rooms",
    f"list p50 with {LIST_OTHER_ROOMS:,} other users' rooms over none, each store",
    1.5,
    "max",
    "issue 12",
)
# What the Redis store adds to a p50 (api_redis minus api), over what one bare redis-py call adds
# to the raw-ASGI floor's (floor_proxy_redis minus floor_proxy), measured in the same run.
REDIS_CREATE_ADDED_VS_FLOOR: Final = Goal(
    "redis_create_added_vs_floor_ratio",
    "create p50 the Redis store adds, over the floor's bare Redis call",
    1.5,
    "max",
    "issue 22",
)
REDIS_STATUS_ADDED_VS_FLOOR: Final = Goal(
    "redis_status_added_vs_floor_ratio",
    "status p50 the Redis store adds, over the floor's bare Redis call",
    1.5,
    "max",
    "issue 22",
)
# Issue 22, against the raw-ASGI floor (floor_proxy) doing the same LiveKit work, in the same run.
STATUS_VS_FLOOR: Final = Goal(
    "status_vs_floor_p50",
    "status p50 over the floor's, each case: no agent, agent pending, agent in the room",
    1.0,
    "max",
    "issue 22",
)
LIST_VS_FLOOR: Final = Goal(
    "list_vs_floor_p50", "list p50 with 2 live sessions over the floor's for 2 rooms", 1.0, "max", "issue 22"
)
CREATE_VS_FLOOR: Final = Goal("create_vs_floor_p50", "create p50 over the floor's", 1.25, "max", "issue 22")
THROUGHPUT_VS_FLOOR: Final = Goal(
    "throughput_vs_floor", "creates/s with many in flight over the floor's", 0.75, "min", "issue 22"
)
OWN_SESSIONS_CREATE_P50: Final = Goal(
    "own_sessions_create_p50_ratio",
    f"create p50, a user with {OWN_SESSIONS:,} live sessions over one with none",
    1.1,
    "max",
    "issue 22",
)
OWN_SESSIONS_CPU: Final = Goal(
    "own_sessions_cpu_ratio",
    f"service CPU per create, a user with {OWN_SESSIONS:,} live sessions over one with none",
    1.1,
    "max",
    "issue 22",
)
EDGE_LIMITS_CPU: Final = Goal(
    "edge_limits_cpu_ratio",
    "service CPU per create, edge limits on over off",
    1.05,
    "max",
    "issue 11",
)
GUARDRAILS_CREATE_P50: Final = Goal(
    "guardrails_create_p50_ratio",
    "create p50, guardrails on over off, each store",
    1.1,
    "max",
    "issue 13",
)
GUARDRAILS_THROUGHPUT: Final = Goal(
    "guardrails_throughput_ratio",
    "creates/s, guardrails on over off, each store",
    0.9,
    "min",
    "issue 13",
)
JOURNAL_CREATE_ADDED_VS_FLOOR: Final = Goal(
    "journal_create_added_vs_floor_ratio",
    "create p50 the journal adds, over the floor's bare INSERT, each database",
    1.5,
    "max",
    "issue 19",
)
HISTORY_WITH_OTHER_RECORDS: Final = Goal(
    "history_ratio_other_records",
    f"history p50 ({HISTORY_OWN_RECORDS} records) with other users' records over none "
    f"(PostgreSQL {HISTORY_OTHER_RECORDS['postgres']:,}, SQLite {HISTORY_OTHER_RECORDS['sqlite']:,})",
    1.2,
    "max",
    "issue 19",
)
# "The same time per page at the end as at the start": read as within the history goal's 1.2x.
HISTORY_PAGE_END_VS_START: Final = Goal(
    "history_page_end_over_start",
    f"history page p50, last tenth of a walk through {PAGED_RECORDS:,} records over the first",
    1.2,
    "max",
    "issue 19",
)
# "Unchanged, within the run-to-run spread": the journal over none, p50 ratio, the low end of its
# 95% interval (rounds resampled) at most 1: not measurably slower in the run.
JOURNAL_STATUS_UNCHANGED: Final = Goal(
    "journal_status_unchanged",
    "status p50 of a live session, each journal over none: low end of its 95% interval",
    1.0,
    "max",
    "issue 19",
)
JOURNAL_LIST_UNCHANGED: Final = Goal(
    "journal_list_unchanged",
    "list p50 of live sessions, each journal over none: low end of its 95% interval",
    1.0,
    "max",
    "issue 19",
)

# Issue 20: the enforcement lag is judged on the runs with this many live sessions.
BOUNDS_LAG_SESSIONS: Final = 10_000
BOUNDS_CREATE_P50: Final = Goal(
    "bounds_create_p50_ratio",
    "create p50, an allowance configured over none, each store",
    1.1,
    "max",
    "issue 20",
)
BOUNDS_LAG_MAX: Final = Goal(
    "bounds_lag_max_s",
    f"deadline to room deleted, the slowest session, {BOUNDS_LAG_SESSIONS:,} live",
    5,
    "max",
    "issue 20",
    unit=" s",
)
APP_WEBHOOKS_CREATE_P50: Final = Goal(
    "app_webhooks_create_p50_ratio",
    "create p50, app webhooks on over off, each database",
    1.1,
    "max",
    "issue 21",
)
APP_WEBHOOKS_DELIVERY_P50: Final = Goal(
    "app_webhooks_delivery_p50_ms",
    "app event delivery p50, commit to the receiver's 2xx, at 50/s, each database",
    200,
    "max",
    "issue 21",
    unit=" ms",
)

METRICS_FLOOD_P50: Final = Goal(
    "metrics_flood_p50_ratio",
    f"status and list p50, {FLOOD_SCRAPES_PER_SECOND} /metrics scrapes/s over none, "
    f"{FLOOD_LIVE_SESSIONS:,} live sessions, each store",
    1.1,
    "max",
    "issue 23",
)

ALL: Final = (
    CREATE_P50_VS_DIRECT,
    STATUS_P50_VS_DIRECT,
    THROUGHPUT_VS_DIRECT,
    LIST_WITH_OTHER_ROOMS,
    REDIS_CREATE_ADDED_VS_FLOOR,
    REDIS_STATUS_ADDED_VS_FLOOR,
    STATUS_VS_FLOOR,
    LIST_VS_FLOOR,
    CREATE_VS_FLOOR,
    THROUGHPUT_VS_FLOOR,
    OWN_SESSIONS_CREATE_P50,
    OWN_SESSIONS_CPU,
    EDGE_LIMITS_CPU,
    GUARDRAILS_CREATE_P50,
    GUARDRAILS_THROUGHPUT,
    JOURNAL_CREATE_ADDED_VS_FLOOR,
    HISTORY_WITH_OTHER_RECORDS,
    HISTORY_PAGE_END_VS_START,
    JOURNAL_STATUS_UNCHANGED,
    JOURNAL_LIST_UNCHANGED,
    BOUNDS_CREATE_P50,
    BOUNDS_LAG_MAX,
    APP_WEBHOOKS_CREATE_P50,
    APP_WEBHOOKS_DELIVERY_P50,
    METRICS_FLOOD_P50,
)


def markdown_table() -> str:
    lines = ["| goal | limit | from | key in the JSON |", "|---|---|---|---|"]
    lines += [f"| {g.what} | {g.limit_text} | {g.source} | `{g.key}` |" for g in ALL]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
