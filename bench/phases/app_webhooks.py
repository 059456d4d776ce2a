"""Issue 21: app webhooks, on each database. What they cost a create, and how soon an event is delivered.

Four services of the phase's own: webhooks on and off, with the journal on SQLite
and on the benchmark's PostgreSQL (bench/journals.py). Create latency is measured
interleaved, on against off. Then each "on" service starts sessions at
WEBHOOK_RATE a second (open loop, on a schedule) while a real receiver verifies
each event: delivery latency runs from the event's timestamp (made in the
transaction that commits it) to the receiver's 2xx.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Mapping
from typing import Any, Final

from bench.harness import Harness
from bench.journal_targets import JOURNAL_LABELS
from bench.progress import progress
from bench.stats import latency_block, percentile, ratio, summary_ms
from bench.targets import JournalMode, Target
from bench.variants import Variants, serving_variants
from bench.webhook_receiver import BenchReceiver, running_receiver

WEBHOOK_RATE: Final = 50  # sessions started (so events made) per second
DATABASES: Final[Mapping[str, JournalMode]] = {"sqlite": "sqlite", "postgresql": "postgres"}
DELIVERY_DEADLINE_SECONDS: Final = 60.0


def _targets(receiver: BenchReceiver, secret: str) -> list[Target]:
    targets = []
    for database, mode in DATABASES.items():
        on, off = f"hooks_on_{database}", f"hooks_off_{database}"
        hooks = {"APP_WEBHOOK_URL": receiver.url(on), "APP_WEBHOOK_SECRET": secret}
        label = JOURNAL_LABELS[mode]
        targets += [
            Target(on, f"journal on {label}, APP_WEBHOOK_URL set", journal=mode, env=hooks),
            Target(off, f"journal on {label}, no app webhooks", journal=mode),
        ]
    return targets


async def app_webhooks_phase(h: Harness) -> dict[str, Any]:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    progress(
        f"app webhooks: create latency ({h.plan.latency_rounds} rounds x {h.plan.latency_block}) on vs off, "
        f"then {h.plan.webhook_events} sessions at {WEBHOOK_RATE}/s, on SQLite and PostgreSQL"
    )
    async with running_receiver(secret, h.log_dir) as receiver:
        targets = _targets(receiver, secret)
        out: dict[str, Any] = {
            "targets": {t.name: t.description for t in targets},
            "delivery": "from the event's timestamp (in its commit's transaction) to the receiver's 2xx",
            "databases": {},
        }
        async with serving_variants(h, targets) as variants:
            samples = await variants.latency([t.name for t in targets])
            for database in DATABASES:
                on, off = f"hooks_on_{database}", f"hooks_off_{database}"
                out["databases"][database] = {
                    "create_p50_ms": {
                        "on": round(percentile(samples[on], 50) * 1000, 3),
                        "off": round(percentile(samples[off], 50) * 1000, 3),
                    },
                    "create_p50_ratio": ratio(percentile(samples[on], 50), percentile(samples[off], 50)),
                    "delivery": await _delivery(variants, on, receiver, h.plan.webhook_events),
                }
        out["latency"] = latency_block(samples, None)
        out["receiver_refused"] = await receiver.refused()
    return out


async def _delivery(variants: Variants, target: str, receiver: BenchReceiver, count: int) -> dict[str, Any]:
    """``count`` sessions started at WEBHOOK_RATE a second; each one's session.started delivery latency."""
    await variants.end_all()
    pool = variants.pools[target]
    rooms: set[str] = set()
    slots = [asyncio.Lock() for _ in pool]
    loop = asyncio.get_running_loop()
    begun = loop.time()

    async def start(n: int) -> None:
        await asyncio.sleep(max(begun + n / WEBHOOK_RATE - loop.time(), 0))
        async with slots[n % len(pool)]:
            room = await pool[n % len(pool)].create()
        rooms.add(room)
        variants.h.rooms.made.add(room)
        variants.made.setdefault(target, set()).add(room)

    await asyncio.gather(*(start(n) for n in range(count)))
    offered = count / (loop.time() - begun)
    deadline = loop.time() + DELIVERY_DEADLINE_SECONDS
    while True:
        arrived = [a for a in await receiver.arrivals(target, "session.started") if a.room_name in rooms]
        if len(arrived) >= len(rooms) or loop.time() > deadline:
            break
        await asyncio.sleep(0.1)
    await variants.end_all()
    return {
        "events": len(rooms),
        "delivered": len(arrived),
        "rate_per_second": round(offered, 1),
        **summary_ms([a.latency for a in arrived]),
    }
