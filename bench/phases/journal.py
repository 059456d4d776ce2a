"""What the journal costs a create, against a floor; and status and list of live sessions with and without it.

Served for this phase only (``bench.journal_targets.journal_targets``): voicecore with its
journal in a dict (``journal_none``, no database), on the SQLite default and on a
PostgreSQL database of its own; the floor plus one bare INSERT of the journal's row
through each driver. With the standard ``floor_proxy`` they are measured in one
interleaved create phase: what a database adds to voicecore's p50 (over
``journal_none``) is judged against what one bare INSERT adds to the floor's (over
``floor_proxy``). Between rounds voicecore's sessions are ended through their services,
so each journal records their ends as in use and no repair pass finds a backlog; the
floors' rooms are deleted directly.

Then each voicecore variant's status of a live session and list of its 2 live
sessions, interleaved: with a journal against none, each p50 ratio with its 95%
interval (rounds resampled, ``bench.stats.p50_ratio_interval``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.clients import ApiUser
from bench.cpu import CpuMeter
from bench.harness import Harness, Rooms
from bench.journal_targets import FLOOR_INSERT, JOURNAL_NONE, JOURNAL_ON, journal_targets
from bench.loops import Operation, interleaved_latency
from bench.progress import progress
from bench.stats import latency_block, p50_difference_ms, p50_ratio_interval, percentile, ratio
from bench.targets import PROXY
from bench.variants import Variants, serving_variants

REPO = Path(__file__).resolve().parents[2]  # the floors' and journal_free's import path


def _create(user: ApiUser, made: set[str], rooms: Rooms) -> Operation:
    async def op() -> None:
        room = await user.create()
        rooms.made.add(room)  # deleted at the end whatever happens
        made.add(room)

    return op


async def _create_latency(h: Harness, variants: Variants) -> dict[str, Any]:
    floor_rooms: set[str] = set()  # deleted directly between rounds (a floor has no end)
    operations = {
        name: _create(
            user,
            floor_rooms if name in FLOOR_INSERT.values() else variants.made.setdefault(name, set()),
            h.rooms,
        )
        for name, user in variants.users.items()
    }
    operations[PROXY] = _create(h.users[PROXY], floor_rooms, h.rooms)
    meter = CpuMeter(variants.meter.pids | {PROXY: h.meter.pids[PROXY]})

    async def between_rounds() -> None:
        await h.rooms.delete(set(floor_rooms))
        floor_rooms.clear()
        await variants.end_all()  # voicecore's sessions, through their services; then LiveKit settles

    plan = h.plan
    progress(
        f"journal: create latency, {plan.latency_rounds} rounds x {plan.latency_block} per side "
        f"({', '.join(operations)})"
    )
    cpu: dict[str, dict[str, float]] = {}
    samples = await interleaved_latency(
        operations,
        rounds=plan.latency_rounds,
        block=plan.latency_block,
        warmup_rounds=plan.warmup_rounds,
        between_rounds=between_rounds,
        meter=meter,
        cpu=cpu,
    )
    block = latency_block(samples, None, cpu)
    block["added_p50_ms"] = {
        mode: {
            "voicecore": p50_difference_ms(block, JOURNAL_ON[mode], JOURNAL_NONE),
            "floor": p50_difference_ms(block, FLOOR_INSERT[mode], PROXY),
        }
        for mode in JOURNAL_ON
    }
    for added in block["added_p50_ms"].values():
        added["ratio"] = ratio(added["voicecore"], added["floor"]) if added["floor"] > 0 else None
    return block


def unchanged(samples: Mapping[str, Sequence[float]], baseline: str, sides: Sequence[str], block: int) -> Any:
    """Each side's p50 over the baseline's, with the ratio's 95% interval (rounds resampled)."""
    out = {}
    for name in sides:
        low, high = p50_ratio_interval(samples[name], samples[baseline], block=block)
        out[name] = {
            "ratio_p50": ratio(percentile(samples[name], 50), percentile(samples[baseline], 50)),
            "interval_95": [low, high],
        }
    return out


async def _live_reads(h: Harness, variants: Variants) -> dict[str, Any]:
    services = [JOURNAL_NONE, *JOURNAL_ON.values()]
    operations: dict[str, Operation] = {}
    for name in services:
        user = variants.users[name]
        rooms = {await user.create() for _ in range(h.plan.owned_rooms)}
        variants.made.setdefault(name, set()).update(rooms)
        h.rooms.made.update(rooms)
        if set(await user.list_sessions()) != rooms:
            raise RuntimeError(f"{name}: the list returned the wrong rooms")
        operations[f"status_{name}"] = _status(user, min(rooms))
        operations[f"list_{name}"] = user.list_sessions
    plan = h.plan
    progress(
        f"journal: status and list of live sessions, {plan.latency_rounds} rounds x {plan.latency_block}"
    )
    samples = await h.sample(operations)
    await variants.end_all()
    block: dict[str, Any] = {"owned_rooms": plan.owned_rooms, **latency_block(samples, None)}
    for read in ("status", "list"):
        sides = [f"{read}_{name}" for name in JOURNAL_ON.values()]
        block[f"{read}_vs_none"] = {
            side.removeprefix(f"{read}_"): figures
            for side, figures in unchanged(
                samples, f"{read}_{JOURNAL_NONE}", sides, plan.latency_block
            ).items()
        }
    return block


def _status(user: ApiUser, room: str) -> Operation:
    async def op() -> None:
        await user.status(room)

    return op


async def journal_phase(h: Harness) -> dict[str, Any]:
    targets = journal_targets(REPO)
    async with serving_variants(h, targets) as variants:
        create = await _create_latency(h, variants)
        live = await _live_reads(h, variants)
    return {
        "targets": {t.name: t.description for t in targets},
        "create": create,
        "live_reads": live,
    }
