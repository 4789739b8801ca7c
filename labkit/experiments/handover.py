"""A consumer joining, leaving and crashing during a steady stream, under one group protocol: what each costs.

Notebook 04 runs it once per protocol (KIP-848 `consumer`, then `classic`) on the same kind of event and draws
the two side by side. Consumers are processes, 2 + 2 to start (a thread cannot be SIGKILLed); the bookings
come from a BookingStream of this process. Each step comes `per_step` bookings after the previous one has
settled (the group Stable again), so a slow join on a busy machine delays the next step instead of crowding it:
1. join: one more seat-reservation process starts; the coordinator moves a share of the partitions to it;
2. leave: that process gets SIGTERM, finishes its batch, commits and leaves; its partitions go back;
3. kill: another seat-reservation process is SIGKILLed, mid-batch: no commit, no goodbye; its partitions move
   only once the group notices (its session times out) and resume from the last commit (redelivery).

A step's pause is the longest wait of a booking sent in the WINDOW seconds after it (but not in the last GUARD
seconds before the next step, which may hold it up instead): the bookings of a paused partition wait for the
handover, the others keep flowing. The same per partition says which partitions paused. What a handover costs a
partition that moves is the median, over the partitions the step moved (as the coordinator reported them), of
their longest waits: one booking held up by something else (a GC pause, a busy core) does not change it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from labkit.domain.naming import KafkaConsumerGroupBuilder
from labkit.domain.seating import SeatingConfig
from labkit.errors import WaitTimeout
from labkit.experiments.load import BookingStream, wait_all
from labkit.kafka.groups import describe_group
from labkit.lab import Lab
from labkit.polling import wait_until
from labkit.services.consumer_processes import ConsumerProcess, ConsumerProcesses
from labkit.services.workers import SEAT_RESERVATION

WINDOW = 5.0  # seconds after a step whose bookings count towards its pause
GUARD = 1.0  # seconds before the next step whose bookings count for neither
UNDISTURBED = 2.0  # seconds before the first step whose bookings give the undisturbed median (after any warm-up)
# The stream's length at most, in steps: 4 when every step settles at once. The rest is for the waits while the
# group settles (the stream flows on meanwhile): in a CI run they took 13.5 s, 677 bookings at 50/s, and a cap of
# 8 steps of 150 ran out before the last step.
STREAM_CAP = 16
SLOW = 1.0  # seconds: a partition whose longest wait passes this counts as paused
# 10 partitions (one per subsection) with seats for every booking of a default run: 10,000 seats for 16 steps of
# 250 bookings of 1-4 seats (2.5 on average).
VENUE = SeatingConfig(sections="AB", subsections=5, rows=50, seats_per_row=20)


@dataclass(frozen=True)
class Step:
    name: str  # join | leave | kill
    at: float  # epoch seconds, when it was done
    pause_s: float  # the longest wait of a booking sent in the WINDOW after it
    paused_from: float  # epoch seconds: when that booking was sent (its wait is where the pause happened)
    by_partition: dict[int, float]  # the same, per reserve-seats partition
    moved: tuple[int, ...] = ()  # the reserve-seats partitions the step moved from one member to another

    @property
    def moved_median_s(self) -> float:
        """The median of the moved partitions' longest waits: what the handover cost a partition that moved."""
        waits = [self.by_partition[p] for p in self.moved if p in self.by_partition]
        return float(pd.Series(waits, dtype=float).median())


@dataclass(frozen=True)
class HandoverRun:
    protocol: str
    bookings: pd.DataFrame  # the event's bookings, with sent_s (since the stream started) and latency_s
    steps: tuple[Step, ...]
    median_latency_s: float  # of the bookings sent UNDISTURBED seconds before the first step

    def table(self) -> pd.DataFrame:
        """One row per step: when (s after the start), its pause, how many partitions waited over SLOW s."""
        start = self.bookings.requested_at.min().timestamp()
        rows = [
            {
                "protocol": self.protocol,
                "step": s.name,
                "at_s": round(s.at - start, 1),
                "pause_s": round(s.pause_s, 2),
                f"partitions_over_{SLOW:g}s": sum(wait > SLOW for wait in s.by_partition.values()),
                "moved": len(s.moved),
                "moved_median_s": round(s.moved_median_s, 2),
                "undisturbed_median_s": round(self.median_latency_s, 3),
            }
            for s in self.steps
        ]
        return pd.DataFrame(rows)

    def partition_pauses(self) -> pd.DataFrame:
        """The longest wait (s) per step (rows) and reserve-seats partition (columns)."""
        return pd.DataFrame({s.name: s.by_partition for s in self.steps}).T.sort_index(axis=1).round(2)


def run_handovers(
    lab: Lab, event_id: int, protocol: str, rate: float = 100.0, per_step: int = 500, timeout: float = 120.0
) -> HandoverRun:
    """Set up the event, run the three steps on consumer processes of `protocol`, stop them, measure."""
    lab.setup_event(event_id, VENUE)
    settings = replace(
        lab.settings,
        event_id=event_id,
        group_protocol=protocol,
        kafka_bootstrap_servers=lab.bootstrap_servers,
        redis_url=lab.redis_url,
        home=Path(lab.settings.home) / "handover" / protocol,
    )
    processes = ConsumerProcesses(settings, stop_with_owner=True)
    processes.start(ticketing=2, seat_reservation=2)
    stream: BookingStream | None = None
    try:
        processes.wait_for_members(2, 2, timeout)
        # Enough for steps that settle slowly; stopped one step's worth after the kill. VENUE has seats for them.
        stream = BookingStream(lab, event_id, count=STREAM_CAP * per_step, rate=rate, seed=event_id).start()
        steps = _Steps(lab, processes, stream, per_step, timeout)
        steps.run(KafkaConsumerGroupBuilder.seat_reservation_service(event_id))
        stream.stop()
        left = wait_all(lab, event_id, stream.booking_ids, timeout)
        if left:
            raise WaitTimeout(f"{left} booking(s) got no outcome within {timeout} s")
    finally:
        if stream is not None:
            stream.stop()
        processes.stop()
    bookings = lab.bookings(event_id)
    return measure(protocol, bookings[bookings.booking_id.isin(set(stream.booking_ids))], steps.done, steps.moved)


class _Steps:
    """Join, leave, kill, one step of the stream apart; when each was done and which partitions it moved."""

    def __init__(
        self, lab: Lab, processes: ConsumerProcesses, stream: BookingStream, per_step: int, timeout: float
    ) -> None:
        self.lab, self.processes, self.stream = lab, processes, stream
        self.per_step, self.timeout = per_step, timeout
        self.done: dict[str, float] = {}
        self.moved: dict[str, tuple[int, ...]] = {}

    def run(self, seat_group: str) -> None:
        processes, timeout = self.processes, self.timeout
        self._one_step_later()
        self.done["join"] = time.time()
        present = {p.pid for p in processes.list()}
        started = processes.start(ticketing=0, seat_reservation=1)  # (just started: maybe not exec'd yet)
        (newcomer,) = [p for p in started if p.service == SEAT_RESERVATION and p.pid not in present]
        processes.wait_for_members(2, 3, timeout)
        self.moved["join"] = self.moved["leave"] = self._owned_by(seat_group, newcomer)  # and back when it leaves
        self._one_step_later()
        self.done["leave"] = time.time()
        processes.stop_one(newcomer)
        processes.wait_for_members(2, 2, timeout)  # settled after the leave: who owns what now
        self._one_step_later()
        victim = next(p for p in processes.list() if p.service == SEAT_RESERVATION and p.alive)
        self.moved["kill"] = self._owned_by(seat_group, victim)
        self.done["kill"] = time.time()
        processes.kill(victim)
        self._one_step_later()

    def _one_step_later(self) -> None:
        """Until `per_step` more bookings have been sent (the stream does not wait for outcomes)."""
        stream, count = self.stream, self.stream.sent + self.per_step
        wait_until(lambda: stream.sent >= count or not stream.sending, self.timeout, f"{count} bookings sent")
        if stream.failure is not None:
            raise stream.failure
        if stream.sent < count:
            raise WaitTimeout(
                f"the stream's {stream.count} bookings ran out before {count} were sent: the group took longer "
                f"to settle between steps than {STREAM_CAP} steps of {self.per_step} allow"
            )

    def _owned_by(self, seat_group: str, process: ConsumerProcess) -> tuple[int, ...]:
        """The reserve-seats partitions the coordinator has assigned to this process (client id …-<pid>)."""
        group = describe_group(self.lab.admin, seat_group)
        (member,) = [m for m in group.members if m.client_id.endswith(f"-{process.pid}")]
        return tuple(partition for _, partition in member.partitions)


def measure(
    protocol: str, bookings: pd.DataFrame, done: dict[str, float], moved: dict[str, tuple[int, ...]] | None = None
) -> HandoverRun:
    """The run from its bookings, when each step was done (epoch seconds) and which partitions each step moved:
    pure, for tests and replays."""
    moved = moved or {}
    sent = bookings.requested_at.map(lambda t: t.timestamp())
    bookings = bookings.assign(sent_s=sent - sent.min(), latency_s=bookings.latency_ms / 1000)
    times = list(done.values())
    ends = [min(at + WINDOW, after - GUARD) for at, after in pairwise(times)]
    ends.append(times[-1] + WINDOW)
    steps = []
    for (name, at), end in zip(done.items(), ends, strict=True):
        window = bookings[(sent >= at) & (sent < end)]
        by_partition = {int(p): float(w) for p, w in window.groupby("partition").latency_s.max().items()}
        if window.empty:  # the next step came less than GUARD s after this one: nothing to measure
            steps.append(Step(name, at, float("nan"), at, by_partition, moved.get(name, ())))
            continue
        worst = window.latency_s.idxmax()
        pause = float(window.latency_s[worst])
        steps.append(Step(name, at, pause, float(sent[worst]), by_partition, moved.get(name, ())))
    first = times[0]
    before = bookings[(sent >= first - UNDISTURBED) & (sent < first)]
    return HandoverRun(protocol, bookings, tuple(steps), float(before.latency_s.median()))


def plot_handovers(runs: list[HandoverRun]) -> Figure:
    """Per protocol: every booking's wait against when it was sent, each step marked, and its pause shaded where
    it happened: from the send of the booking that waited longest to its outcome. One y-scale for all panels."""
    figure, axes = plt.subplots(len(runs), 1, figsize=(12, 2.8 * len(runs)), sharex=True, sharey=True, squeeze=False)
    colours = {"join": "tab:green", "leave": "tab:blue", "kill": "tab:red"}
    for ax, run in zip(axes[:, 0], runs, strict=True):
        start = run.bookings.requested_at.min().timestamp()
        ax.scatter(run.bookings.sent_s, run.bookings.latency_s, s=3, color="grey", alpha=0.5, label="one booking")
        for step in run.steps:
            ax.axvline(step.at - start, color=colours[step.name], linewidth=1, label=f"{step.name}: step taken")
            paused = step.paused_from - start
            ax.axvspan(
                paused,
                paused + step.pause_s,
                color=colours[step.name],
                alpha=0.2,
                label=f"{step.name}: longest wait {step.pause_s:.2f} s",
            )
        ax.set_ylabel("wait for the outcome (s)")
        ax.set_title(f"group.protocol={run.protocol}: bookings' waits while consumers join, leave, crash", fontsize=10)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    axes[-1, 0].set_xlabel("sent at (s after the stream started)")
    figure.tight_layout()
    return figure
