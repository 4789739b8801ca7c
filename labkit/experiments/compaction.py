"""A compacted topic (notebook 10): the latest value of each key, kept; older ones, cleaned away.

With `cleanup.policy=compact` the log cleaner rewrites a partition's closed segments keeping only each key's
last record; a record with no value (a tombstone) deletes its key, and is itself removed once
`delete.retention.ms` has passed since that cleaning. The active segment is never cleaned: `segment.ms` closes it
on the first write after that long, and `min.cleanable.dirty.ratio` says what share of the log must be
uncleaned before the cleaner bothers. `COMPACTED` sets all three small so a lab sees the cleaner within seconds
(the brokers look for work every second: `log.cleaner.backoff.ms`).
"""

from __future__ import annotations

from collections.abc import Iterable

from labkit.experiments.reading import LogRecord, read_topic
from labkit.polling import wait_until

COMPACTED: dict[str, str] = {
    "cleanup.policy": "compact",
    "segment.ms": "1000",
    "min.cleanable.dirty.ratio": "0",  # any uncleaned record makes a partition worth cleaning (default: half)
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "600000",  # a tombstone stays readable 10 min after the cleaning: the notebook sees it
}


def latest_by_key(records: Iterable[LogRecord]) -> dict[str, bytes | None]:
    """key → its last value in log order (None: its last record is a tombstone): what compaction keeps."""
    latest: dict[str, bytes | None] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.key is not None:
            latest[record.key] = None if record.tombstone else record.value
    return latest


def wait_until_compacted(bootstrap_servers: str, topic: str, timeout: float = 120.0) -> list[LogRecord]:
    """Until the topic holds one record per key (the cleaner has run over every closed segment, and the active
    segments hold keys of their own); the records then. TimeoutError after `timeout` s."""
    records: list[LogRecord] = []

    def compacted() -> bool:
        nonlocal records
        records = read_topic(bootstrap_servers, topic)
        return len(records) == len({r.key for r in records})

    wait_until(compacted, timeout, f"the log cleaner to compact {topic}", interval=1.0)
    return records
