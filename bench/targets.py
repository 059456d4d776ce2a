"""What the benchmark serves, every target declared here: each is the service with its own settings.

A target's settings are a plain mapping of variables, read by the service through
the composition root (``ServiceContainer.from_environment``), in a subprocess or
in this process alike. Phases compare variants of the service by giving targets
different ``env``: ``store="redis"`` adds ``SESSION_STORE_URL`` for a database of
the benchmark's own redis-server; ``journal="postgres"`` adds ``JOURNAL_URL`` for a
database of its own on the benchmark's PostgreSQL server (otherwise the journal is the
SQLite default, in the process's own working directory: ``bench.service``); an empty
value restores the service's default (the settings treat empty as unset). The floors
(``bench.floor_app``) and the journal-free service (``bench.journal_free``, in ``bench.journal_targets``)
are targets too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from bench import floor_app
from bench.goals import FLOOD_LIVE_SESSIONS

StoreMode = Literal["memory", "redis"]
# The SQLite default, or a database of its own on the benchmark's PostgreSQL server.
JournalMode = Literal["sqlite", "postgres"]

# The service as shipped (LOG_LEVEL=INFO, in-process store): the issue-6 goals are judged on it.
PRIMARY: Final = "api"
REDIS: Final = "api_redis"  # the same with the Redis session store
WARNING: Final = "api_warning"
PROXY: Final = "floor_proxy"  # the direct baseline's work behind the thinnest Python HTTP service
PROXY_REDIS: Final = "floor_proxy_redis"  # the same plus one bare redis-py call per request
FLOOR: Final = "floor_healthz"  # GET /healthz of the primary service: the HTTP round trip alone
DIRECT_USER: Final = "bench-direct"

STORE_LABELS: Final[Mapping[StoreMode, str]] = {"memory": "in-process store", "redis": "Redis store"}

# Issue 13's guardrails are on by default; the bulk phases make thousands of sessions for one
# user, so every target turns them off unless its own env says otherwise.
BULK_PHASE_ENV: Final[Mapping[str, str]] = {
    "SESSION_MAX_LIVE_PER_USER": "0",
    "SESSION_CREATES_PER_MINUTE": "0",
}
# The highest the settings accept, and never reached (every session is ended between rounds):
# the cost of the guardrails' checks, not of refusals.
NEVER_REFUSING: Final[Mapping[str, str]] = {
    "SESSION_MAX_LIVE_PER_USER": "1000",
    "SESSION_CREATES_PER_MINUTE": "100000",
}
# What the latency phases measure beside the served targets, described in the JSON.
REFERENCES: Final[Mapping[str, str]] = {
    "direct": "one warm livekit.api.LiveKitAPI in the benchmark process",
    FLOOR: "GET /healthz of the api service: the HTTP round trip alone, for reference",
}


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    log_level: str = "INFO"
    store: StoreMode = "memory"
    journal: JournalMode = "sqlite"
    env: Mapping[str, str] = field(default_factory=dict)
    module: str = "voicecore_http"
    pythonpath: str | None = None  # the floor's repository, or another checkout (``--compare``)

    @property
    def user_id(self) -> str:
        """The bearer token's subject: each target lists only its own sessions."""
        if self.module == floor_app.__name__:
            return floor_app.user_for(redis=self.store == "redis", insert=self.env.get(floor_app.INSERT))
        return f"bench-{self.name}"


def standard_targets(repo: Path) -> list[Target]:
    """The shipped service in its store modes and at WARNING, and the floor (``repo`` on its path)."""
    return [
        Target(
            PRIMARY, "python -m voicecore_http, LOG_LEVEL=INFO (default), in-process store, logs to a file"
        ),
        Target(
            REDIS,
            "the same with SESSION_STORE_URL: the Redis store on the benchmark's redis-server",
            store="redis",
        ),
        Target(WARNING, "python -m voicecore_http, LOG_LEVEL=WARNING, logs to a file", log_level="WARNING"),
        Target(
            PROXY,
            "python -m bench.floor_app: direct's exact work behind raw ASGI on the same uvicorn "
            "(no framework, auth or logging); the price of the HTTP hop alone",
            log_level="WARNING",
            module=floor_app.__name__,
            pythonpath=str(repo),
        ),
        Target(
            PROXY_REDIS,
            "the floor plus one bare redis-py call per request (SET before a create, GET beside a "
            "status) on the benchmark's redis-server: the price of one Redis round trip alone",
            log_level="WARNING",
            store="redis",
            module=floor_app.__name__,
            pythonpath=str(repo),
        ),
    ]


# The standard targets that list, with their stores (the list phase gives each a fresh user).
LISTING: Final[Mapping[str, StoreMode]] = {PRIMARY: "memory", REDIS: "redis"}


# An agent name no worker serves: every session's agent stays pending (issue 22's second status case).
ABSENT_AGENT: Final = "bench-absent-agent"
AGENT_PENDING: Final = Target(
    "api_agent",
    f"python -m voicecore_http, in-process store, LIVEKIT_AGENT_NAME={ABSENT_AGENT} (no worker: pending)",
    env={"LIVEKIT_AGENT_NAME": ABSENT_AGENT},
)


def counted_targets() -> list[Target]:
    """The services the calls phase counts LiveKit calls of: one per store mode, and one with an agent."""
    return [
        *(
            Target(
                f"calls_{mode}",
                f"python -m voicecore_http, {label}, LiveKit behind a counting proxy",
                store=mode,
            )
            for mode, label in STORE_LABELS.items()
        ),
        Target(
            "calls_memory_agent",
            f"the same, in-process store, LIVEKIT_AGENT_NAME={ABSENT_AGENT}",
            env={"LIVEKIT_AGENT_NAME": ABSENT_AGENT},
        ),
    ]


def guardrail_targets() -> dict[StoreMode, tuple[Target, Target]]:
    """Per store: (guardrails on, guardrails off), for the guardrails phase."""
    return {
        mode: (
            Target(
                f"guard_on_{mode}",
                f"{label}, guardrails on (limits never reached)",
                store=mode,
                env=NEVER_REFUSING,
            ),
            Target(f"guard_off_{mode}", f"{label}, guardrails off", store=mode, env=BULK_PHASE_ENV),
        )
        for mode, label in STORE_LABELS.items()
    }


# Issue 20's create figure: an allowance so large it never runs out (the most the settings accept).
NEVER_RUNNING_OUT: Final = "10000000"


def bounds_targets(journals: Path) -> dict[StoreMode, tuple[Target, Target]]:
    """Per store: (an allowance configured, none), each with its own SQLite journal in ``journals``."""

    def target(name: str, what: str, mode: StoreMode, minutes: str) -> Target:
        env = {"USAGE_LIMIT_MINUTES": minutes, "JOURNAL_URL": f"sqlite:///{journals / name}.sqlite3"}
        return Target(name, f"{STORE_LABELS[mode]}, {what}, a journal of its own", store=mode, env=env)

    return {
        mode: (
            target(
                f"allowance_on_{mode}",
                f"USAGE_LIMIT_MINUTES={NEVER_RUNNING_OUT} (never used up)",
                mode,
                NEVER_RUNNING_OUT,
            ),
            target(f"allowance_off_{mode}", "USAGE_LIMIT_MINUTES=0 (no allowance)", mode, "0"),
        )
        for mode in STORE_LABELS
    }


# The edge limits phase: the in-process store with the guardrails off, HTTP_LIMITS_ENABLED on and off.
EDGE_LIMITS_ON: Final = Target(
    "edge_limits_on",
    "in-process store, HTTP_LIMITS_ENABLED=true (the default)",
    env={**BULK_PHASE_ENV, "HTTP_LIMITS_ENABLED": "true"},
)
EDGE_LIMITS_OFF: Final = Target(
    "edge_limits_off",
    "in-process store, HTTP_LIMITS_ENABLED=false",
    env={**BULK_PHASE_ENV, "HTTP_LIMITS_ENABLED": "false"},
)


# The /metrics flood phase: per store, the service with FLOOD_LIVE_SESSIONS records in its store
# (bench.filled_service). The repair and the watchdog, whose passes read every session by
# design and would find the filler records roomless, run only at start-up, before the fill.
FILLED_SERVICE: Final = "bench.filled_service"
FILLER_VARIABLE: Final = "BENCH_FILLER_SESSIONS"


def flood_targets(repo: Path) -> dict[StoreMode, Target]:
    """Per store, the service the /metrics flood phase scrapes and measures (``repo`` on its path)."""
    return {
        mode: Target(
            f"flood_{mode}",
            f"bench.filled_service: the service, {label}, {FLOOD_LIVE_SESSIONS:,} filler records "
            "added to its store at start-up; repair and watchdog passes off after start-up",
            store=mode,
            env={
                **BULK_PHASE_ENV,
                FILLER_VARIABLE: str(FLOOD_LIVE_SESSIONS),
                "SESSION_RECONCILE_INTERVAL_SECONDS": "0",
                "AGENT_WATCHDOG_INTERVAL_SECONDS": "0",
            },
            module=FILLED_SERVICE,
            pythonpath=str(repo),
        )
        for mode, label in STORE_LABELS.items()
    }


def agent_target(agent_name: str) -> Target:
    """The service that dispatches ``agent_name`` to every room it creates (the time-to-agent phase)."""
    return Target("agent", "voicecore with LIVEKIT_AGENT_NAME", env={"LIVEKIT_AGENT_NAME": agent_name})


# --profile: the service served in the benchmark's own process.
PROFILED: Final = Target("in-process", "voicecore_http in this process's thread, under pyinstrument")


def parse_target(spec: str) -> Target:
    """``LABEL[+redis]:VAR=VALUE,VAR=VALUE``: the service as ``api_LABEL`` with those variables."""
    head, _, assignments = spec.partition(":")
    label, _, store = head.partition("+")
    if not label or store not in ("", "redis"):
        raise ValueError(f"{spec!r}: expected LABEL[+redis]:VAR=VALUE,...")
    env: dict[str, str] = {}
    for assignment in filter(None, assignments.split(",")):
        name, equals, value = assignment.partition("=")
        if not equals or not name:
            raise ValueError(f"{spec!r}: {assignment!r} is not VAR=VALUE")
        env[name] = value
    mode: StoreMode = "redis" if store else "memory"
    shown = ", ".join(f"{k}={v}" for k, v in env.items()) or "no other variables"
    return Target(
        f"api_{label}", f"python -m voicecore_http, {STORE_LABELS[mode]}, {shown}", store=mode, env=env
    )


@dataclass(frozen=True)
class LiveKitAccess:
    url: str
    api_key: str
    api_secret: str


# A target's settings for a given LiveKit (the calls phase puts a proxy in front of it).
Settings = Callable[[Target, LiveKitAccess], Mapping[str, str]]


def service_environment(
    target: Target,
    livekit: LiveKitAccess,
    auth_secret: str,
    store_url: str | None = None,
    journal_url: str | None = None,
) -> dict[str, str]:
    """Every setting the target's service gets, and nothing else."""
    if target.store == "redis" and store_url is None:
        raise ValueError(f"{target.name} uses the Redis store: give it a store URL")
    if target.journal == "postgres" and journal_url is None:
        raise ValueError(f"{target.name} keeps its journal on PostgreSQL: give it a database URL")
    env = {
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
        "AUTH_JWT_SECRET": auth_secret,
        "LOG_LEVEL": target.log_level,
        **BULK_PHASE_ENV,
    }
    if target.store == "redis" and store_url is not None:
        env["SESSION_STORE_URL"] = store_url
    if target.journal == "postgres" and journal_url is not None:
        # A database of its own, empty: the service brings it to its schema at start.
        env |= {"JOURNAL_URL": journal_url, "JOURNAL_MIGRATE_ON_START": "true"}
    env.update(target.env)
    return env
