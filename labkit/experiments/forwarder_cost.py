"""What a transaction costs (notebook 09): one forwarder's throughput on a backlog, then its latency at a steady
rate, both read where a `read_committed` consumer can see the records.

- **Throughput**: `backlog` records are written first; the forwarder starts; records per second from the moment
  it began reading (its log says when) to the last record readable.
- **Latency**: then `rate` records per second for `seconds`, open loop (`NumberedWriter`); from each record's
  scheduled send to the moment it was readable downstream (`ArrivalClock`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from labkit.experiments.arrivals import ArrivalClock
from labkit.experiments.forwarding import ForwarderOptions, ForwarderProcess
from labkit.experiments.producer_acks import NumberedWriter
from labkit.measurement.latency_stats import LatencySummary, summarize_latency
from labkit.polling import wait_until


@dataclass(frozen=True)
class ForwarderCost:
    """One forwarder's figures: throughput on the backlog, latency at the steady rate."""

    options: ForwarderOptions
    backlog: int
    drain_per_s: float
    latency: LatencySummary

    def row(self) -> dict[str, object]:
        return {
            "mode": self.options.mode,
            "commit every (records)": self.options.every_messages,
            "or every (ms)": self.options.every_ms,
            "backlog drained /s": round(self.drain_per_s),
            f"p50 ms at {self.latency.offered_per_s:g}/s": round(self.latency.p50_ms, 1),
            f"p99 ms at {self.latency.offered_per_s:g}/s": round(self.latency.p99_ms, 1),
        }


def measure_forwarder(
    options: ForwarderOptions, backlog: int, rate: float, seconds: float, log_file: Path, timeout: float = 120.0
) -> ForwarderCost:
    """Run one forwarder on fresh topics (`options.source`, `options.target`, empty) and measure it; stopped at
    the end whatever happens."""
    bootstrap = options.bootstrap_servers
    NumberedWriter(bootstrap, options.source, "all", 20_000, backlog).start().join(timeout)
    clock = ArrivalClock(bootstrap, options.target).start()
    forwarder = ForwarderProcess(options, log_file)
    try:
        clock.wait_for(backlog, timeout)
        wait_until(lambda: forwarder.ready_ms() is not None, timeout, "the forwarder's start in its log")
        began = forwarder.ready_ms() or 0
        last = max(clock.first_seen[n] for n in range(backlog))
        drain = backlog / max((last - began) / 1000, 1e-3)
        count = max(1, round(rate * seconds))
        writer = NumberedWriter(bootstrap, options.source, "all", rate, count, first=backlog).start()
        report = writer.join(seconds + timeout)
        clock.wait_for(backlog + count, timeout)
        readable = [clock.first_seen.get(backlog + n) for n in range(count)]
        return ForwarderCost(options, backlog, drain, summarize_latency(rate, report.scheduled_ms, readable))
    finally:
        forwarder.stop()
        clock.stop()


def cost_table(costs: list[ForwarderCost]) -> pd.DataFrame:
    """One row per forwarder measured."""
    return pd.DataFrame([cost.row() for cost in costs])
