"""Numbered writes with a chosen acks and what the log kept: the pure bookkeeping, and real writes."""

from __future__ import annotations

from collections import Counter

import pytest

from labkit.experiments.producer_acks import (
    NumberedWriter,
    WriteReport,
    compare,
    latency_table,
    numbers_in_log,
    producer_config,
)
from labkit.experiments.reading import read_topic
from labkit.experiments.scratch_topics import create_topic, experiment_topic
from labkit.settings import Settings


@pytest.mark.unit
def test_compare_counts_lost_twice_refused_and_unreported() -> None:
    report = WriteReport("1", "t", scheduled_ms=[0.0] * 5, sent_ms=[0.0] * 5, delivered_ms=[1.0, 2.0, 3.0, None, None])
    report.failed[3] = "_MSG_TIMED_OUT"
    row = compare(report, Counter({0: 2, 2: 1, 4: 1}))  # 1 lost, 0 written twice, 4 kept although not reported
    assert row == {
        "acks": "1",
        "sent": 5,
        "told delivered": 3,
        "in the log": 3,
        "lost": 1,
        "written twice": 1,
        "told failed": 1,
        "kept, not told": 1,
    }
    assert report.latency().completed == 3
    later = report.since(0.0)
    assert later.sent == 5
    timed = WriteReport("all", "t", [0.0, 500.0, 1000.0, 1500.0], [0.0] * 4, [900.0, 510.0, 1001.0, None])
    assert timed.since(1.0).scheduled_ms == [1000.0, 1500.0] and timed.since(1.0).latency().p50_ms == 1.0


@pytest.mark.unit
def test_only_acks_all_is_idempotent_and_a_wrong_acks_is_named() -> None:
    assert producer_config("b:1", "all", "c")["enable.idempotence"] is True
    assert producer_config("b:1", "1", "c")["enable.idempotence"] is False
    with pytest.raises(ValueError, match="acks must be one of 0, 1, all"):
        producer_config("b:1", "2", "c")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        NumberedWriter("b:1", "t", "all", 0, 10)
    with pytest.raises(ValueError, match="first must be a non-negative integer"):
        NumberedWriter("b:1", "t", "all", 10, 10, first=-1)


@pytest.mark.integration
def test_writers_of_each_acks_are_told_what_the_log_holds(settings: Settings, event_id: int) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "acks")
    create_topic(bootstrap, topic)
    writers = [NumberedWriter(bootstrap, topic, acks, 300, 60, partition=0).start() for acks in ("0", "1", "all")]
    reports = [w.join(60) for w in writers]
    assert all(r.delivered == set(range(60)) for r in reports)
    assert numbers_in_log(read_topic(bootstrap, topic)) == Counter({n: 3 for n in range(60)})
    assert list(latency_table(reports).index) == ["0", "1", "all"]
    later = NumberedWriter(bootstrap, topic, "all", 300, 5, partition=0, first=60).start().join(60)
    assert later.delivered == set(range(5)), "the report numbers from 0"
    assert set(numbers_in_log(read_topic(bootstrap, topic))) == set(range(65)), "the values from `first`"
