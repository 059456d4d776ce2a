"""From samples to the JSON figures: percentiles, latency blocks with their ratios, burst throughput.

Samples are in seconds, figures in milliseconds.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench.loops import Burst
from bench.targets import FLOOR


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(samples: Sequence[float]) -> dict[str, float | int]:
    """n, p50, p95, p99, mean, min and max of samples given in seconds, in milliseconds."""
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p95_ms": round(percentile(samples, 95) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3),
        "min_ms": round(min(samples) * 1000, 3),
        "max_ms": round(max(samples) * 1000, 3),
    }


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator else math.inf


def latency_block(
    samples: Mapping[str, Sequence[float]],
    baseline: str | None,
    cpu: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """Each operation's summary; given a ``baseline``, each service's p50 and p95 over its."""
    out: dict[str, Any] = {name: summary_ms(values) for name, values in samples.items()}
    if baseline is not None:
        base_p50 = percentile(samples[baseline], 50)
        base_p95 = percentile(samples[baseline], 95)
        compared = [n for n in samples if n not in (baseline, FLOOR) and not n.startswith("direct")]
        out["ratio_p50"] = {name: ratio(percentile(samples[name], 50), base_p50) for name in compared}
        out["ratio_p95"] = {name: ratio(percentile(samples[name], 95), base_p95) for name in compared}
    if cpu:
        # CPU time of each process per request, one request at a time (clock ticks, summed).
        out["cpu_ms_per_request"] = {
            name: {
                process: round(used * 1000 / len(samples[name]), 3) for process, used in by_process.items()
            }
            for name, by_process in cpu.items()
        }
    return out


def p50_difference_ms(block: Mapping[str, Any], name: str, baseline: str) -> float:
    """How many milliseconds ``name``'s p50 lies above ``baseline``'s in a latency block."""
    return round(float(block[name]["p50_ms"]) - float(block[baseline]["p50_ms"]), 3)


def burst_summary(bursts: Sequence[Burst], cpu: Mapping[str, float]) -> dict[str, Any]:
    requests = sum(b.requests for b in bursts)
    seconds = sum(b.seconds for b in bursts)
    return {
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1),
        "rounds_rps": [round(b.rps, 1) for b in bursts],
        "latency_under_load": summary_ms([x for b in bursts for x in b.latencies]),
        # CPU time each process spent per request during the bursts (clock ticks).
        "cpu_ms_per_request": {name: round(used * 1000 / requests, 3) for name, used in cpu.items()},
    }


def rounds_of(samples: Sequence[float], block: int) -> list[Sequence[float]]:
    """An interleaved side's samples, cut back into its rounds (``block`` each, in order)."""
    return [samples[i : i + block] for i in range(0, len(samples), block)]


def p50_ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    block: int,
    resamples: int = 1000,
    seed: int = 19,
) -> tuple[float, float]:
    """The 95% interval of p50(numerator) / p50(denominator), whole rounds resampled (a bootstrap).

    Both sides were measured in the same interleaved rounds, so the same rounds are drawn
    for both: a slow moment of the machine falls on both sides of every resample. The
    interval is how far the ratio moves with which moments a run happens to catch.
    """
    top, bottom = rounds_of(numerator, block), rounds_of(denominator, block)
    if len(top) != len(bottom) or not top:
        raise ValueError("both sides need the same rounds")
    draw = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        picked = [draw.randrange(len(top)) for _ in top]
        ratios.append(
            statistics.median(x for i in picked for x in top[i])
            / statistics.median(x for i in picked for x in bottom[i])
        )
    return round(percentile(ratios, 2.5), 3), round(percentile(ratios, 97.5), 3)
