"""A user's list while other users' rooms pile up, with each session store, against direct livekit-api.

Each listing service gets a user of its own that has made no session before this
phase, so its store holds exactly the rooms made here. The other users' rooms are
created straight in LiveKit, voicecore-shaped, as other replicas or other apps
would leave them. The figure: each store's p50 against the other users' rooms.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.clients import ApiUser
from bench.direct import create_rooms, metadata_for, room_name_for
from bench.goals import LIST_OTHER_ROOMS
from bench.harness import Harness
from bench.loops import Operation
from bench.plot import Series, line_plot
from bench.progress import progress
from bench.stats import latency_block, percentile, ratio
from bench.targets import DIRECT_USER, LISTING, STORE_LABELS, StoreMode

DIRECT_SIDES = ("direct_list", "direct_scan", "direct_indexed", "direct_lookup")
# Drawn beside the services: what LiveKit alone costs with a full scan and with a per-user index.
_REFERENCES = {
    "direct_scan": "direct: full ListRooms",
    "direct_indexed": "direct: ListRooms(names) + participants",
}


async def _listing_users(h: Harness, targets: Mapping[str, StoreMode]) -> dict[str, ApiUser]:
    users = {}
    for name in targets:
        service = h.users[name]
        users[name] = await h.user(name, str(service.client.base_url), f"{service.user_id}-list")
    return users


async def _add_other_rooms(h: Harness, fillers: list[str], level: int) -> None:
    started = time.perf_counter()
    batch = [
        (room_name_for(f"member-{i:05d}"), metadata_for(f"member-{i:05d}"))
        for i in range(len(fillers), level)
    ]
    fillers += await create_rooms(h.lk, batch, concurrency=16)
    h.rooms.made.update(fillers)
    progress(
        f"list: {len(batch)} other users' rooms created directly in {time.perf_counter() - started:.1f}s"
    )


async def list_phase(h: Harness) -> dict[str, Any]:
    """The services of ``bench.targets.LISTING`` list, each with its store."""
    plan = h.plan
    users = await _listing_users(h, LISTING)
    owned = {name: {await user.create() for _ in range(plan.owned_rooms)} for name, user in users.items()}
    owned_direct = sorted({(await h.direct.create(DIRECT_USER))[0] for _ in range(plan.owned_rooms)})
    h.rooms.made.update(owned_direct, *owned.values())

    async def direct_list() -> None:
        await h.direct.list_sessions(DIRECT_USER)

    async def direct_indexed() -> None:
        await h.direct.list_indexed(DIRECT_USER, owned_direct)

    async def direct_lookup() -> None:
        await h.direct.lookup(owned_direct[0])

    operations: dict[str, Operation] = {name: user.list_sessions for name, user in users.items()}
    operations |= {
        "direct_list": direct_list,
        "direct_scan": h.direct.scan,
        "direct_indexed": direct_indexed,
        "direct_lookup": direct_lookup,
    }
    fillers: list[str] = []
    levels: dict[str, Any] = {}
    for level in plan.list_levels:
        if level > len(fillers):
            await _add_other_rooms(h, fillers, level)
        # Sanity, untimed: each side sees exactly its own rooms among everyone's.
        for name, user in users.items():
            if set(await user.list_sessions()) != owned[name]:
                raise RuntimeError(f"{name}: the list returned the wrong rooms")
        if {n for n, _ in await h.direct.list_sessions(DIRECT_USER)} != set(owned_direct):
            raise RuntimeError("direct: the list returned the wrong rooms")
        total = await h.direct.scan()
        progress(
            f"list latency with {level} other users' rooms ({total} in LiveKit): "
            f"{plan.list_rounds} rounds x {plan.list_block} per side"
        )
        samples = await h.sample(operations, rounds=plan.list_rounds, block=plan.list_block)
        block = latency_block(samples, "direct_scan")
        block["vs_direct_list_p50"] = {
            name: ratio(percentile(samples[name], 50), percentile(samples["direct_list"], 50))
            for name in users
        }
        block["rooms_in_livekit"] = total
        levels[str(level)] = block
    started = time.perf_counter()
    await h.rooms.delete()
    progress(f"list: rooms deleted in {time.perf_counter() - started:.1f}s")
    out: dict[str, Any] = {
        "owned_rooms_per_user": plan.owned_rooms,
        "stores": {name: STORE_LABELS[mode] for name, mode in LISTING.items()},
        "levels": levels,
        "ratio_other_rooms_p50": other_rooms_ratios(levels, [*users, *DIRECT_SIDES]),
    }
    out["plot"] = str(list_cost_chart(out, h.plot_path("list-cost")))
    return out


def other_rooms_ratios(levels: Mapping[str, Any], names: list[str]) -> dict[str, float]:
    """Each side's p50 with LIST_OTHER_ROOMS other users' rooms over its p50 with none."""
    crowded, empty = levels.get(str(LIST_OTHER_ROOMS)), levels.get("0")
    if crowded is None or empty is None:
        return {}
    return {name: ratio(crowded[name]["p50_ms"], empty[name]["p50_ms"]) for name in names}


def list_cost_chart(block: Mapping[str, Any], path: Path) -> Path:
    """p50 of a user's list against the other users' rooms present (the p95 are in the JSON)."""
    levels = sorted(block["levels"], key=int)
    x = [int(level) for level in levels]

    def series(name: str, label: str, *, dashed: bool = False) -> Series:
        return Series(label, x, [block["levels"][level][name]["p50_ms"] for level in levels], dashed=dashed)

    lines = [series(name, f"{name} ({store})") for name, store in block["stores"].items()]
    lines += [series(name, label, dashed=True) for name, label in _REFERENCES.items()]
    return line_plot(
        path,
        title=f"A user's list ({block['owned_rooms_per_user']} own rooms) against other users' rooms",
        x_label="other users' rooms in LiveKit",
        y_label="p50, ms",
        series=lines,
    )
