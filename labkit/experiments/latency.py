"""Latency of the booking path: one booking at a time, and open-loop streams at a fixed offered rate.

Open loop: booking i is *scheduled* at start + i / rate, whatever became of the ones before it. The sender sends
whatever is due (many at once, in one `book_many`, when it fell behind) and latency counts from the scheduled
time to the outcome recorded in Redis. So a sender that falls behind is counted, not hidden: a closed loop
(send, wait, send) would slow down with the system and report the latency of a lighter load.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from labkit.experiments.load import wait_all
from labkit.lab import Lab
from labkit.measurement.latency_stats import LatencySummary, check_load, summarize_latency
from labkit.measurement.pipe import PlainPipe

__all__ = [
    "LatencySummary",
    "Run",
    "Sweep",
    "check_load",
    "compare_with_pipe",
    "one_at_a_time",
    "open_loop",
    "summarize_latency",
    "sustainable_rate",
    "sweep",
]

SEND_CHUNK = 100  # at most this many due bookings per book_many() call


def one_at_a_time(lab: Lab, event_id: int, count: int = 200, seed: int | None = None) -> LatencySummary:
    """`count` bookings, each sent only after the previous one's outcome is known: book() → wait() as a user
    clicking Book sees it, measured around the call."""
    subsections = _subsections(lab, event_id)
    rng = random.Random(seed)
    starts, ends = [], []
    for _ in range(count):
        section, subsection = rng.choice(subsections)
        start = time.time() * 1000
        lab.book(event_id, section, subsection, quantity=1).wait(timeout=30)
        starts.append(start)
        ends.append(time.time() * 1000)
    return summarize_latency(None, starts, ends)


def open_loop(
    lab: Lab,
    event_id: int,
    rate: float,
    seconds: float,
    quantity: tuple[int, int] = (1, 2),
    seed: int | None = None,
    timeout: float = 60.0,
) -> LatencySummary:
    """Offer `rate` bookings/s for `seconds` to random subsections; latency from each booking's scheduled time.
    Outcomes are awaited up to `timeout` s after the last send; a booking without one counts as infinitely late."""
    return summarize_latency(rate, *open_loop_samples(lab, event_id, rate, seconds, quantity, seed, timeout))


def open_loop_samples(
    lab: Lab,
    event_id: int,
    rate: float,
    seconds: float,
    quantity: tuple[int, int] = (1, 2),
    seed: int | None = None,
    timeout: float = 60.0,
) -> tuple[list[float], list[float | None]]:
    """As `open_loop`, but each booking's scheduled time and outcome time (epoch ms; None without an outcome),
    for figures over time (`latency_stats.windows`)."""
    check_load(rate, seconds)
    subsections = _subsections(lab, event_id)
    rng = random.Random(seed)
    count = max(1, round(rate * seconds))
    booking_ids: list[str] = []
    start_wall, start = time.time(), time.monotonic()
    while len(booking_ids) < count:
        sent = len(booking_ids)
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        if due <= sent:  # pacing until the next booking's scheduled time: the load's shape, not synchronisation
            time.sleep(max(0.0, start + sent / rate - time.monotonic()))
            continue
        orders = []
        for _ in range(min(due - sent, SEND_CHUNK)):
            section, subsection = rng.choice(subsections)
            orders.append({"section": section, "subsection": subsection, "quantity": rng.randint(*quantity)})
        booking_ids += [b.booking_id for b in lab.book_many(orders, event_id=event_id)]
    wait_all(lab, event_id, booking_ids, timeout)
    scheduled = [(start_wall + i / rate) * 1000 for i in range(count)]
    return scheduled, list(lab.runtime.store.completion_times(event_id, booking_ids))


# A run: (rate, seconds to wait for the last outcomes) → its summary.
Run = Callable[[float, float], LatencySummary]


@dataclass
class Sweep:
    """Open-loop runs of one or more curves (labkit, the plain pipe …) at the same rising rates."""

    runs: dict[str, list[LatencySummary]] = field(default_factory=dict)
    stopped: str = "every rate was run"  # why the sweep ended, in words

    def frame(self) -> pd.DataFrame:
        """One row per curve and rate: curve, offered_per_s, bookings, completed, p50_ms, p99_ms, max_ms, …"""
        rows = [{"curve": curve, **r.row()} for curve, runs in self.runs.items() for r in runs]
        return pd.DataFrame(rows, columns=["curve", *LatencySummary.__dataclass_fields__])

    def p99(self) -> pd.DataFrame:
        """p99 (ms) per offered rate (rows) and curve (columns)."""
        return self.frame().pivot(index="offered_per_s", columns="curve", values="p99_ms")[list(self.runs)]

    def plot(self, title: str, target_ms: float | None = None) -> Figure:
        """p50 (dashed) and p99 (solid) of every curve against the offered rate, log-log; a target line."""
        figure, ax = plt.subplots(figsize=(7, 4))
        for index, (curve, runs) in enumerate(self.runs.items()):
            colour = f"C{index}"
            rates = [r.offered_per_s or 0.0 for r in runs]
            ax.plot(rates, [r.p99_ms for r in runs], "o-", color=colour, label=f"{curve}: p99")
            ax.plot(rates, [r.p50_ms for r in runs], "s--", color=colour, alpha=0.6, label=f"{curve}: p50")
        if target_ms is not None:
            ax.axhline(target_ms, color="grey", linestyle=":", label=f"target: p99 ≤ {target_ms:,.0f} ms")
        ax.set(xscale="log", yscale="log", title=title, xlabel="offered load (messages or bookings per second)")
        offered = sorted({r.offered_per_s or 0.0 for runs in self.runs.values() for r in runs})
        ax.set_xticks(offered, [f"{r:g}" for r in offered], minor=False)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylabel("latency (ms), scheduled send → outcome")
        ax.legend(fontsize=8)
        figure.tight_layout()
        return figure


def sweep(
    curves: Mapping[str, Run],
    rates: Sequence[float],
    seconds: float,
    budget_s: float = math.inf,
    stop_above_p99_ms: float = 2000.0,
) -> Sweep:
    """Each rate in turn, every curve at it, until the rates run out or the time budget would be passed.

    A curve stops after its first rate whose p99 passes `stop_above_p99_ms`. A run starts only if at least
    `seconds` of sending and as long again of draining fit into what is left of `budget_s`, and its drain is
    cut where the budget ends (what is still missing then counts as infinitely late): a sweep on a slow
    machine stops early and says so instead of running past its budget.
    """
    deadline = time.monotonic() + budget_s
    result = Sweep({curve: [] for curve in curves})
    going = dict(curves)
    dropped: list[str] = []  # curves stopped by their p99, and after which rate
    for rate in rates:
        for curve, run in list(going.items()):
            left = deadline - time.monotonic()
            if left < 2 * seconds:
                result.stopped = f"the time budget ran out before {curve} at {rate:g}/s"
                return result
            summary = run(rate, min(left - seconds, 120.0))
            result.runs[curve].append(summary)
            if not summary.p99_ms <= stop_above_p99_ms:
                del going[curve]
                dropped.append(f"{curve} after {rate:g}/s")
        if not going:
            result.stopped = f"every curve's p99 passed {stop_above_p99_ms:,.0f} ms ({'; '.join(dropped)})"
            return result
    if dropped:
        result.stopped = f"the rates ran out; p99 over {stop_above_p99_ms:,.0f} ms stopped {'; '.join(dropped)}"
    return result


def compare_with_pipe(
    lab: Lab,
    event_id: int,
    rates: Sequence[float],
    seconds: float,
    budget_s: float = math.inf,
    pipe_partitions: Sequence[int] = (100, 10),
    stop_above_p99_ms: float = 2000.0,
    seed: int | None = None,
) -> Sweep:
    """labkit's open-loop curve on `event_id` (its consumers running) beside the plain pipe's
    (`labkit.measurement.pipe`) on the same cluster at the same rates, one pipe per partition count; the pipes'
    topics are deleted after.

    The budget counts from the call, so it includes opening the pipes (each creates its topics and settles its
    groups: seconds). The runs alternate by rate, so every curve meets the cluster in the same state.
    """
    started = time.monotonic()
    pipes = []
    try:
        for partitions in pipe_partitions:
            pipes.append(PlainPipe(lab.bootstrap_servers, partitions).open())
        partitions = lab.runtime.inventory.require_seating(event_id).subsection_count  # one per subsection
        curves: dict[str, Run] = {
            f"labkit, {partitions} partitions": lambda rate, wait: open_loop(
                lab, event_id, rate, seconds, seed=seed, timeout=wait
            )
        }
        for pipe in pipes:
            curves[f"plain pipe, {pipe.partitions} partitions"] = functools.partial(_pipe_run, pipe, seconds)
        return sweep(curves, rates, seconds, budget_s - (time.monotonic() - started), stop_above_p99_ms)
    finally:
        for pipe in pipes:
            pipe.close()


def _pipe_run(pipe: PlainPipe, seconds: float, rate: float, wait: float) -> LatencySummary:
    return pipe.open_loop(rate, seconds, timeout=wait)


def sustainable_rate(results: Sequence[LatencySummary], p99_limit_ms: float = 250.0) -> float | None:
    """The highest offered rate whose p99 stayed within the limit (None if none did)."""
    ok = [r.offered_per_s for r in results if r.offered_per_s is not None and r.p99_ms <= p99_limit_ms]
    return max(ok) if ok else None


def _subsections(lab: Lab, event_id: int) -> list[tuple[str, int]]:
    return list(lab.runtime.inventory.require_seating(event_id).subsection_ids())
