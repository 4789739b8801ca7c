"""A compacted topic on the real cluster: the cleaner keeps each key's last record, a tombstone deletes a key."""

from __future__ import annotations

import time

import pytest

from labkit.experiments.compaction import COMPACTED, latest_by_key, wait_until_compacted
from labkit.experiments.keyed import KeyedRecord, write_records
from labkit.experiments.reading import LogRecord, read_topic
from labkit.experiments.scratch_topics import create_topic, experiment_topic, set_topic_config
from labkit.settings import Settings


@pytest.mark.unit
def test_latest_by_key_takes_the_last_record_in_log_order_and_none_for_a_tombstone() -> None:
    records = [
        LogRecord("t", 0, 1, 0, "a", b"2"),
        LogRecord("t", 0, 0, 0, "a", b"1"),
        LogRecord("t", 0, 2, 0, "b", b"", tombstone=True),
    ]
    assert latest_by_key(records) == {"a": b"2", "b": None}


@pytest.mark.integration
def test_the_cleaner_keeps_one_record_per_key_and_the_tombstone(settings: Settings, event_id: int) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "compacted")
    create_topic(bootstrap, topic, config={**COMPACTED, "segment.ms": "3600000"})
    records = [KeyedRecord(f"k{n % 5}", str(n).encode()) for n in range(30)] + [KeyedRecord("k0", None)]
    write_records(bootstrap, topic, records)
    before = read_topic(bootstrap, topic)
    assert len(before) == 31
    set_topic_config(bootstrap, topic, {"segment.ms": COMPACTED["segment.ms"]})
    time.sleep(1.5)  # segment.ms is a duration: only a write a second later closes the segment
    write_records(bootstrap, topic, [KeyedRecord("closing", b"x")])
    after = wait_until_compacted(bootstrap, topic, timeout=90)
    assert len(after) == 6 and latest_by_key(after) == {**latest_by_key(before), "closing": b"x"}
    assert latest_by_key(after)["k0"] is None and [r.offset for r in after] == [26, 27, 28, 29, 30, 31]
