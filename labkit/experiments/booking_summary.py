"""Numbers and frames for people: outcome summaries, latency percentiles, messages per partition."""

from __future__ import annotations

from typing import Any

import pandas as pd

from labkit.kafka.admin import Admin
from labkit.kafka.topics import end_offsets


def summarize(bookings: pd.DataFrame) -> dict[str, Any]:
    """reserved / failed counts, failures by reason, latency p50/p95/p99 (ms) of completed bookings."""
    done = bookings[bookings.status != "PENDING"]
    latency = done.latency_ms.dropna()
    return {
        "bookings": len(bookings),
        "reserved": int((bookings.status == "RESERVED").sum()),
        "failed": int((bookings.status == "FAILED").sum()),
        "pending": int((bookings.status == "PENDING").sum()),
        "failed_by_reason": bookings[bookings.status == "FAILED"].reason.value_counts().to_dict(),
        "seats_reserved": int(bookings[bookings.status == "RESERVED"].seats.map(len).sum()),
        "latency_ms": {
            f"p{q}": round(float(latency.quantile(q / 100)), 1) if len(latency) else None for q in (50, 95, 99)
        },
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"bookings {summary['bookings']}: reserved {summary['reserved']} ({summary['seats_reserved']} seats), "
        f"failed {summary['failed']}, pending {summary['pending']}",
    ]
    for reason, n in sorted(summary["failed_by_reason"].items()):
        lines.append(f"  failed {reason}: {n}")
    lat = summary["latency_ms"]
    lines.append(f"latency ms: p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}")
    return "\n".join(lines)


def messages_per_partition(bootstrap_servers: str, topic: str, partitions: int) -> pd.DataFrame:
    """Log-end offset of each partition = messages ever written to it (topics here are never compacted)."""
    with Admin(bootstrap_servers) as admin:
        ends = end_offsets(admin, [(topic, p) for p in range(partitions)])
    return pd.DataFrame(
        {"partition": list(range(partitions)), "messages": [ends[(topic, p)] for p in range(partitions)]}
    )
