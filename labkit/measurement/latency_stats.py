"""Figures of a latency run: percentiles from scheduled send times and outcome times, nothing else.

Apart from `labkit.experiments.latency` (which drives labkit) so that `labkit.measurement.pipe`, the baseline
written without labkit's Kafka code, is measured with the same arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from labkit.checks import is_number
from labkit.errors import ConfigError


@dataclass(frozen=True)
class LatencySummary:
    """Figures of one run. `offered_per_s` is None for one-at-a-time bookings; latencies in ms."""

    offered_per_s: float | None
    bookings: int
    completed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    achieved_per_s: float  # outcomes per second, first scheduled send → last outcome

    def row(self) -> dict[str, float | int | None]:
        return {
            "offered_per_s": self.offered_per_s,
            "bookings": self.bookings,
            "completed": self.completed,
            "p50_ms": round(self.p50_ms, 1),
            "p99_ms": round(self.p99_ms, 1),
            "max_ms": round(self.max_ms, 1),
            "achieved_per_s": round(self.achieved_per_s, 1),
        }


def summarize_latency(
    offered: float | None, starts_ms: Sequence[float], ends_ms: Sequence[float | None]
) -> LatencySummary:
    """Percentiles (nearest rank) of end - start over every booking: one with no outcome (None) counts as
    infinitely late, so a run that did not drain in time shows it in its p99 instead of hiding it."""
    done = sorted(end - start for start, end in zip(starts_ms, ends_ms, strict=True) if end is not None)
    waits = done + [math.inf] * (len(starts_ms) - len(done))
    if not done:
        return LatencySummary(offered, len(starts_ms), 0, math.inf, math.inf, math.inf, 0.0)

    def rank(q: float) -> float:
        return waits[min(len(waits) - 1, max(0, round(q * len(waits)) - 1))]

    span_ms = max(e for e in ends_ms if e is not None) - min(starts_ms)
    return LatencySummary(
        offered, len(starts_ms), len(done), rank(0.50), rank(0.99), waits[-1], len(done) / max(span_ms / 1000, 1e-3)
    )


def windows(
    starts_ms: Sequence[float], ends_ms: Sequence[float | None], width_s: float
) -> list[tuple[float, LatencySummary]]:
    """The run cut into windows of `width_s` by scheduled time: (seconds from the first send, its summary)."""
    if not starts_ms:
        return []
    first = min(starts_ms)
    buckets: dict[int, tuple[list[float], list[float | None]]] = {}
    for start, end in zip(starts_ms, ends_ms, strict=True):
        bucket = buckets.setdefault(int((start - first) / 1000 / width_s), ([], []))
        bucket[0].append(start)
        bucket[1].append(end)
    return [(k * width_s, summarize_latency(None, *buckets[k])) for k in sorted(buckets)]


def window_p99s(starts_ms: Sequence[float], ends_ms: Sequence[float | None], width_s: float = 2.0) -> list[int | None]:
    """Each window's p99 in whole ms, None for a window with a message that never arrived (for JSON)."""
    return [round(s.p99_ms) if math.isfinite(s.p99_ms) else None for _, s in windows(starts_ms, ends_ms, width_s)]


def settled_after(
    starts_ms: Sequence[float], ends_ms: Sequence[float | None], limit_ms: float, width_s: float = 2.0
) -> float | None:
    """Seconds from the first send until every later window's p99 stayed within `limit_ms`: how long a slow
    phase lasted. 0 if there was none; None if the run ended inside it."""
    cut = windows(starts_ms, ends_ms, width_s)
    slow = [at for at, summary in cut if summary.p99_ms > limit_ms]
    if not slow:
        return 0.0
    settled = slow[-1] + width_s
    return settled if settled < cut[-1][0] + width_s else None


def check_load(rate: float, seconds: float) -> None:
    """ValueError naming the argument unless both are positive numbers."""
    if not is_number(rate) or rate <= 0:
        raise ConfigError(f"rate must be a positive number of bookings per second, got {rate!r}")
    if not is_number(seconds) or seconds <= 0:
        raise ConfigError(f"seconds must be a positive number, got {seconds!r}")
