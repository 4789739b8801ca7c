"""Kafka's default partitioner in Python, keyed writes on the real cluster, and the order a consumer reads."""

from __future__ import annotations

import pytest

from labkit.experiments.keyed import (
    KeyedRecord,
    default_partition,
    murmur2,
    numbered_by_key,
    order_report,
    partition_layout,
    write_records,
)
from labkit.experiments.reading import LogRecord, read_topic
from labkit.experiments.scratch_topics import create_topic, experiment_topic
from labkit.settings import Settings


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),  # Apache Kafka's UtilsTest.testMurmur2
    [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafkas_own_test_vectors(text: str, expected: int) -> None:
    assert murmur2(text.encode()) == expected


@pytest.mark.unit
def test_default_partition_is_positive_murmur2_modulo_the_partitions() -> None:
    assert default_partition("21", 7) == (-973932308 & 0x7FFFFFFF) % 7
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        default_partition("A-1", 0)


@pytest.mark.unit
def test_partition_layout_counts_empty_single_and_shared_partitions() -> None:
    layout = partition_layout({0: 2, 1: 1, 3: 4}, 5)
    assert layout == {"empty": 2, "exactly one": 1, "two or more": 2, "most in one": 4}


def _records(values: list[tuple[int, str]]) -> list[LogRecord]:
    return [LogRecord("t", partition, i, 0, None, value.encode()) for i, (partition, value) in enumerate(values)]


@pytest.mark.unit
def test_order_report_keeps_per_key_order_and_counts_steps_back_across_keys() -> None:
    sent = numbered_by_key(["a", "b"], 2)
    assert [r.value for r in sent] == [b"a:0:0", b"b:0:1", b"a:1:2", b"b:1:3"]
    # as a consumer would read them: partition 1 (key b) first, then partition 0 (key a)
    report = order_report(_records([(1, "b:0:1"), (1, "b:1:3"), (0, "a:0:0"), (0, "a:1:2")]))
    assert report.loc["a", "in send order"] and report.loc["b", "in send order"]
    assert report.loc["all keys", "steps back"] == 1 and not report.loc["all keys", "in send order"]
    shuffled = order_report(_records([(0, "a:1:2"), (0, "a:0:0")]))
    assert not shuffled.loc["a", "in send order"] and shuffled.loc["a", "steps back"] == 1


@pytest.mark.integration
def test_keyed_records_land_where_murmur2_says_and_explicit_ones_where_told(settings: Settings, event_id: int) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "keyed")
    create_topic(bootstrap, topic, partitions=6)
    keys = [f"K-{n}" for n in range(20)]
    written = write_records(bootstrap, topic, [KeyedRecord(k, k.encode()) for k in keys] + [KeyedRecord("x", b"x", 5)])
    assert written == 21
    records = read_topic(bootstrap, topic)
    assert {r.key: r.partition for r in records if r.key != "x"} == {k: default_partition(k, 6) for k in keys}
    assert [r.partition for r in records if r.key == "x"] == [5]
