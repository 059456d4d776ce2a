"""The printed table: every phase's headline figures and the goals, from the results JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench import goals
from bench.phases.bounds import table_lines as bounds_lines
from bench.phases.floor import API_LIST, FLOOR_LIST, FLOOR_STATUS, STATUS_CASES
from bench.phases.listing import DIRECT_SIDES
from bench.phases.own_sessions import FRESH, HEAVY
from bench.targets import FLOOR

_CELL = 18


def _pp(summary: Mapping[str, Any]) -> str:
    return f"{summary['p50_ms']:8.2f} {summary['p95_ms']:8.2f}"


def _latency(results: Mapping[str, Any]) -> list[str]:
    apis = list(results["create"]["ratio_p50"])
    head = f"{'':28}" + "".join(f"{name:>{_CELL}}" for name in [*apis, "direct"]) + "   ratio p50 vs direct"
    lines = [head, "-" * len(head)]
    for phase in ("create", "status"):
        block = results[phase]
        cells = "".join(f"{_pp(block[name]):>{_CELL}}" for name in [*apis, "direct"])
        ratios = "  ".join(f"{name} {block['ratio_p50'][name]:.2f}x" for name in apis)
        lines.append(f"{phase + ' latency':28}{cells}   {ratios}")
    lines.append(f"{'HTTP floor (GET /healthz)':28}{_pp(results['create'][FLOOR]):>{_CELL}}")
    return lines


def _listing(block: Mapping[str, Any]) -> list[str]:
    sides = [*block["stores"], *DIRECT_SIDES]
    lines = [
        f"list, {block['owned_rooms_per_user']} rooms of the user's own ("
        + ", ".join(f"{name}: {store}" for name, store in block["stores"].items())
        + ")",
        f"{'':28}" + "".join(f"{name:>{_CELL}}" for name in sides),
    ]
    for level, by_side in block["levels"].items():
        cells = "".join(f"{_pp(by_side[name]):>{_CELL}}" for name in sides)
        lines.append(f"{'  ' + level + ' other rooms':28}{cells}")
    ratios = block["ratio_other_rooms_p50"]
    if ratios:
        cells = "".join(f"{ratios[name]:>{_CELL - 1}.2f}x" for name in sides)
        lines.append(f"{f'  p50 {goals.LIST_OTHER_ROOMS} vs 0':28}{cells}")
    return lines


def _throughput(tp: Mapping[str, Any]) -> list[str]:
    lines = [f"throughput, {tp['in_flight']} in flight (creates/s)"]
    for name in [*tp["ratio_rps"], "direct"]:
        extra = f"   {tp['ratio_rps'][name]:.2f}x direct" if name != "direct" else ""
        lines.append(f"  {name:26}{tp[name]['rps']:10.1f}   rounds {tp[name]['rounds_rps']}{extra}")
    return lines


def _floor(block: Mapping[str, Any]) -> list[str]:
    lines = ["against the floor (raw ASGI, the same LiveKit work), p50 p95 and p50 over the floor's"]
    for case, name in STATUS_CASES.items():
        ratio = block["status_vs_floor_p50"][case]
        lines.append(f"  {'status, ' + case.replace('_', ' '):26}{_pp(block[name]):>{_CELL}}   {ratio:.2f}x")
    lines.append(f"  {'status, the floor':26}{_pp(block[FLOOR_STATUS]):>{_CELL}}")
    lines.append(f"  {'list, 2 rooms':26}{_pp(block[API_LIST]):>{_CELL}}   {block['list_vs_floor_p50']:.2f}x")
    lines.append(f"  {'list, the floor':26}{_pp(block[FLOOR_LIST]):>{_CELL}}")
    return lines


def _own_sessions(block: Mapping[str, Any]) -> list[str]:
    return [
        f"create with {block['own_sessions']:,} live sessions of the user's own, against none",
        f"  {HEAVY:26}{_pp(block[HEAVY]):>{_CELL}}",
        f"  {FRESH:26}{_pp(block[FRESH]):>{_CELL}}",
        f"  p50 {block['create_p50_ratio']:.2f}x, service CPU per create {block['service_cpu_ratio']:.2f}x",
    ]


def _calls(block: Mapping[str, Any]) -> list[str]:
    sides = list(block["sides"])
    lines = [
        f"LiveKit API calls per request (median; list with {block['owned_rooms_when_listing']} rooms owned)",
        f"{'':12}" + "".join(f"{name:>36}" for name in sides),
    ]
    for operation in ("create", "status", "list", "end"):
        cells = []
        for side in sides:
            figures = block["sides"][side][operation]
            methods = ", ".join(f"{m} {n:g}" for m, n in figures["by_method_median"].items())
            spread = "" if figures["calls_min"] == figures["calls_max"] else "~"
            cells.append(f"{spread}{figures['calls_median']:g} ({methods})")
        lines.append(f"  {operation:10}" + "".join(f"{cell:>36}" for cell in cells))
    return lines


def _goals(judgement: Mapping[str, Any]) -> list[str]:
    by_key = {goal.key: goal for goal in goals.ALL}
    lines = [f"goals (judged on {judgement['judged_on']}):"]
    caveats: list[str] = []
    for verdict in judgement["verdicts"]:
        goal = by_key[verdict["goal"]]
        caveat = verdict.get("caveat")
        if caveat is not None and caveat not in caveats:
            caveats.append(caveat)
        mark = f" [{caveats.index(caveat) + 1}]" if caveat is not None else ""
        bare = "INSERT" if goal is goals.JOURNAL_CREATE_ADDED_VS_FLOOR else "Redis call"
        added = (
            f"  (added {verdict['added_ms']:.2f} ms; one bare {bare}, to the floor: "
            f"{verdict['floor_added_ms']:.2f} ms)"
            if "floor_added_ms" in verdict
            else ""
        )
        met = "met" if verdict["met"] else "NOT met"
        figure = f"{verdict['value']:>8.2f}{goal.unit}  {goal.limit_text:>10}"
        lines.append(f"  {goal.what[:66]:66} {verdict['subject']:>16} {figure}  {met}{mark}{added}")
    lines += [f"  [{number}] {caveat}" for number, caveat in enumerate(caveats, 1)]
    lines += [f"  not judged: {key}: {why}" for key, why in judgement["not_judged"].items()]
    if judgement["not_measured_yet"]:
        lines.append("  not measured by any phase yet: " + ", ".join(judgement["not_measured_yet"]))
    return lines


def _journal(block: Mapping[str, Any]) -> list[str]:
    create = block["create"]
    sides = [name for name in create if isinstance(create[name], dict) and "p50_ms" in create[name]]
    lines = ["journal: create latency, one at a time", *(f"  {n:26}{_pp(create[n])}" for n in sides)]
    for mode, added in create["added_p50_ms"].items():
        lines.append(
            f"  {mode}: added to voicecore {added['voicecore']:.2f} ms, one bare INSERT to the floor "
            f"{added['floor']:.2f} ms"
        )
    live = block["live_reads"]
    for read in ("status", "list"):
        for name, figures in live[f"{read}_vs_none"].items():
            low, high = figures["interval_95"]
            lines.append(
                f"  {read} {name:21} over none {figures['ratio_p50']:.3f}x  (95%: {low:.3f} to {high:.3f})"
            )
    return lines


def _history(block: Mapping[str, Any]) -> list[str]:
    reader = block["reader"]
    lines = [
        f"history: a page of {block['own_records']} records; other users' records {block['other_records']}"
    ]
    lines += [f"  {name:26}{_pp(reader[name])}" for name in reader if isinstance(reader[name], dict)]
    lines += [f"  {name} over none: {r:.2f}x" for name, r in block["ratio_other_records_p50"].items()]
    for name, paging in block["paging"].items():
        lines.append(
            f"  {name}: {paging['pages']} pages; first {paging['pages_compared_at_each_end']} p50 "
            f"{paging['first_pages_p50_ms']:.2f} ms, last {paging['last_pages_p50_ms']:.2f} ms "
            f"({paging['end_over_start']:.2f}x)"
        )
    return lines


def _metrics_flood(block: Mapping[str, Any]) -> list[str]:
    lines = [
        f"/metrics flood: {block['scrapes_per_second_asked']} scrapes/s asked, "
        f"{block['filler_sessions']:,} live sessions in each store (quiet / flooded p50 p95)"
    ]
    for name, side in block["sides"].items():
        flood = block["flood"][name]
        for operation, figures in side.items():
            quiet, flooded = _pp(figures["quiet"]), _pp(figures["flooded"])
            label = f"{name} {operation}"
            failed = sum(figures["not_200"].values())
            note = f"{figures['ratio_p50']:.2f}x" + (f"   ({failed} answers not 200)" if failed else "")
            lines.append(f"  {label:26}{quiet:>{_CELL}}{flooded:>{_CELL}}   {note}")
        achieved, failed = flood["achieved_per_second"], flood["failures"]
        cpu = ", ".join(f"{process} {ms:.2f}" for process, ms in flood["cpu_ms_per_scrape"].items())
        lines.append(f"  {'':26}scrapes/s achieved {achieved}, failed {failed}; CPU ms per scrape: {cpu}")
    return lines


def table(results: Mapping[str, Any]) -> str:
    """The figures of every phase that ran."""
    lines = [f"voicecore HTTP API vs direct livekit-api ({results['mode']} run, ms: p50 p95)", ""]
    if "create" in results and "status" in results:
        lines += _latency(results)
    if "list" in results:
        lines += ["", *_listing(results["list"])]
    if "floor" in results:
        lines += ["", *_floor(results["floor"])]
    if "throughput" in results:
        lines += ["", *_throughput(results["throughput"])]
    if "own_sessions" in results:
        lines += ["", *_own_sessions(results["own_sessions"])]
    if "journal" in results:
        lines += ["", *_journal(results["journal"])]
    if "history" in results:
        lines += ["", *_history(results["history"])]
    if "livekit_calls" in results:
        lines += ["", *_calls(results["livekit_calls"])]
    if bounds := bounds_lines(results):
        lines += ["", *bounds]
    if "metrics_flood" in results:
        lines += ["", *_metrics_flood(results["metrics_flood"])]
    lines += ["", *_goals(results["goals"])]
    cleanup = results["cleanup"]
    lines += [
        "",
        f"rooms deleted {cleanup['rooms_deleted']}, left in LiveKit {cleanup['rooms_left_in_livekit']}",
    ]
    lines += [f"plot: {path}" for path in results.get("plots", {}).values()]
    return "\n".join(lines)
