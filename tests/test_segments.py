"""A segment's batches as kafka-dump-log prints them: parsed, and checked for the idempotent producer's sequences."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import Lab
from labkit.cluster.local import LocalCluster
from labkit.experiments.producer_acks import NumberedWriter
from labkit.experiments.scratch_topics import create_topic, experiment_topic
from labkit.experiments.segments import parse_dump, sequence_breaks
from labkit.kafka.topics import describe_partitions

TAIL = (
    "deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1 size: 90 magic: 2 compresscodec: none isvalid: true"
)
BATCHES = [  # baseOffset lastOffset count baseSequence lastSequence producerId partitionLeaderEpoch
    (0, 2, 3, 0, 2, 7, 0),
    (3, 3, 1, 5, 5, 7, 1),
    (4, 4, 1, -1, -1, -1, 1),
]
DUMP = "Dumping /data/t-0/00000000000000000000.log\nLog starting offset: 0\n" + "".join(
    f"baseOffset: {b} lastOffset: {last} count: {n} baseSequence: {bs} lastSequence: {ls} producerId: {pid} "
    f"producerEpoch: {0 if pid >= 0 else -1} partitionLeaderEpoch: {epoch} isTransactional: false isControl: false "
    f"{TAIL}\n"
    for b, last, n, bs, ls, pid, epoch in BATCHES
)


@pytest.mark.unit
def test_a_dump_is_parsed_and_a_gap_in_a_producers_sequences_is_named() -> None:
    batches = parse_dump(DUMP)
    assert list(batches["count"]) == [3, 1, 1] and list(batches.producerId) == [7, 7, -1]
    assert batches.isTransactional.dtype == bool and list(batches.partitionLeaderEpoch) == [0, 1, 1]
    assert sequence_breaks(batches) == ["producer 7 epoch 0: batch at offset 3 starts at sequence 5, after 2"]
    assert sequence_breaks(batches.iloc[[0, 2]]) == []  # a non-idempotent producer's batch (-1) is not checked


@pytest.mark.integration
def test_kafka_dump_log_shows_an_idempotent_producers_batches_without_a_gap(lab: Lab, event_id: int) -> None:
    topic = experiment_topic(event_id, "dumped")
    create_topic(lab.bootstrap_servers, topic)
    lab.events_set_up.add(event_id)  # the lab fixture deletes the event, and this topic with it
    NumberedWriter(lab.bootstrap_servers, topic, "all", 2000, 300).start().join(60)
    (partition,) = describe_partitions(lab.admin, [topic])
    segment = LocalCluster(lab.settings.home).segment_files(topic, 0, partition.leader)[0]
    assert isinstance(segment, Path) and segment.name == "00000000000000000000.log"
    batches = parse_dump(lab.kafka_tool("kafka-dump-log", "--files", str(segment)))
    assert batches["count"].sum() == 300 and batches.producerId.nunique() == 1 and (batches.producerId >= 0).all()
    assert sequence_breaks(batches) == []
