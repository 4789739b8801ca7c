"""Warming the brokers up on purpose, right after they start, instead of inside a learner's first experiment.

A broker's JVM starts interpreting Kafka's code and compiles the hot paths while it serves. With the C2
compiler (labkit's setting, docs/benchmark.md, "Why these settings") that takes tens of seconds of CPU, and until
the hot paths are compiled a round trip takes seconds. So `labkit cluster up` and `Lab.up()` drive a small plain
pipe (`labkit.measurement.pipe`, its own two 10-partition topics, deleted after) through the fresh cluster in
short open-loop windows, until the pipe holds its target (p99 ≤ 250 ms at 250/s) in consecutive windows, or a
time limit passed. The ahead-of-time cache (cluster/aot.py) is what makes that come soon.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.measurement.pipe import PlainPipe

WARMUP_RATE = 250.0  # messages/s through the pipe: enough to exercise batching, little enough to stay quick
WARMUP_WINDOW = 5.0  # seconds per window; after each, the window's p99 (and the compilers' CPU) are read
WARM_P99_MS = 250.0  # a window whose p99 is at most this is a warm one
WARM_WINDOWS = 2  # consecutive warm windows: the cluster is warm
WARMUP_LIMIT = 60.0  # seconds at most, then the cluster is used as it is (reported)


@dataclass(frozen=True)
class WarmUp:
    """How a warm-up went: its length, the windows run, and whether the pipe held its target at the end."""

    seconds: float
    windows: int
    settled: bool
    compiler_cores: float  # in the last window
    p99_ms: float  # of the last window
    aot_cache: str = "none"  # what the brokers did with their ahead-of-time cache (cluster/warm_start.py)

    def __str__(self) -> str:
        outcome = "warm" if self.settled else f"not yet warm after the {WARMUP_LIMIT:.0f}-s limit"
        return (
            f"{outcome}: {self.seconds:.0f} s, {self.windows} windows of {WARMUP_WINDOW:.0f} s at "
            f"{WARMUP_RATE:.0f}/s; last window p99 {self.p99_ms:,.0f} ms, compilers {self.compiler_cores:.2f} cores"
        )


def cpu_seconds(stat: Path) -> float:
    """utime + stime of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file; 0 if it is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compiler_cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds of each JIT compiler thread ('C1 CompilerThre…', 'C2 CompilerThre…') of these JVMs, by
    thread id. By thread, because the JVM starts and ends compiler threads as the queue grows and shrinks, and
    an ended thread's CPU time leaves the sum (`compiler_cores_between`)."""
    seconds: dict[int, float] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                if "CompilerThre" in (task / "comm").read_text():
                    seconds[int(task.name)] = cpu_seconds(task / "stat")
            except OSError:
                continue  # a thread that ended between listing and reading
    return seconds


def compiled_between(before: dict[int, float], after: dict[int, float]) -> float:
    """Compiler CPU seconds spent between two readings: what each thread seen in the second reading added
    (a thread that started in between counts from zero; one that ended is lost, at most a few ticks)."""
    return sum(now - before.get(tid, 0.0) for tid, now in after.items())


def warm_up(
    bootstrap_servers: str,
    broker_pids: Sequence[int],
    progress: Callable[[str], None] | None = None,
    limit: float = WARMUP_LIMIT,
    replication: int = 3,
) -> WarmUp:
    """Run the pipe in windows until WARM_WINDOWS in a row have a p99 of at most WARM_P99_MS, or `limit` s passed
    (then the cluster is used as it is). The compilers' CPU is reported with each window."""
    began = time.monotonic()
    count = warm_in_a_row = 0
    compilers, p99 = float("inf"), float("inf")
    with PlainPipe(bootstrap_servers, partitions=10, forwarders=2, sinks=2, replication=replication) as pipe:
        while count == 0 or time.monotonic() - began < limit:  # at least one window
            window_began, before = time.monotonic(), compiler_cpu_seconds(broker_pids)
            p99 = pipe.open_loop(WARMUP_RATE, WARMUP_WINDOW, timeout=30.0).p99_ms
            compiled = compiled_between(before, compiler_cpu_seconds(broker_pids))
            compilers = compiled / (time.monotonic() - window_began)
            count += 1
            warm_in_a_row = warm_in_a_row + 1 if p99 <= WARM_P99_MS else 0
            if progress is not None:
                progress(
                    f"warming up the brokers: {time.monotonic() - began:3.0f} s, "
                    f"p99 {p99:,.0f} ms, compilers {compilers:.2f} cores"
                )
            if warm_in_a_row >= WARM_WINDOWS:
                break
    return WarmUp(time.monotonic() - began, count, warm_in_a_row >= WARM_WINDOWS, compilers, p99)
