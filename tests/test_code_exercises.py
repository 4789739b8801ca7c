"""The exercises answered in Kafka client code, both ways on the real cluster: the reference solution passes, and
typical wrong answers are rejected with the reason that teaches. The wrong answers are written here as a learner
would write them (the consumer loops run in a process of their own, from their source)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from labkit import Lab
from labkit.exercises import consumer_loop, offsets, producer_code, topic_code, transactions
from labkit.kafka.topics import list_topics
from labkit.polling import wait_until


# -- 01: AdminClient.create_topics ----------------------------------------------------------------------------
def create_with_one_replica(admin: AdminClient, name: str) -> None:
    config = {"min.insync.replicas": "2", "retention.ms": "3600000"}
    futures = admin.create_topics([NewTopic(name, num_partitions=6, replication_factor=1, config=config)])
    futures[name].result()


def create_once_only(admin: AdminClient, name: str) -> None:
    config = {"min.insync.replicas": "2", "retention.ms": "3600000"}
    admin.create_topics([NewTopic(name, num_partitions=6, replication_factor=3, config=config)])[name].result()


@pytest.mark.integration
def test_create_topic_in_code_is_described_on_the_cluster(lab: Lab, event_id: int) -> None:
    check = topic_code.create_topic_in_code.evaluate
    assert check(topic_code.create_topic_in_code.reference, lab=lab, event_id=event_id).solved
    one_replica = check(create_with_one_replica, lab=lab, event_id=event_id)
    assert not one_replica.solved and "[1] replicas, not 3 (replication_factor)" in one_replica.message
    twice = check(create_once_only, lab=lab, event_id=event_id)
    assert not twice.solved and "the second call raised TOPIC_ALREADY_EXISTS" in twice.message
    left = lambda: [t for t in list_topics(lab.admin) if f"event-id-{event_id}_" in t]  # noqa: E731
    wait_until(lambda: not left(), 30, "the check's topics deleted")


# -- 02: a producer routed by the spec's partitioner ----------------------------------------------------------
def send_by_key_hash(config: dict[str, Any], topic: str, requests: list[dict[str, Any]], strategy: Any) -> list[Any]:
    producer, delivered = Producer(config), []
    for request in requests:
        key = f"{request['section']}-{request['subsection']}"
        producer.produce(topic, key=key, value=request["booking_id"], on_delivery=lambda e, m: delivered.append(m))
    producer.flush(30)
    return [(bytes(m.value() or b"").decode(), m.partition(), m.offset()) for m in delivered]


def send_without_flush(config: dict[str, Any], topic: str, requests: list[dict[str, Any]], strategy: Any) -> list[Any]:
    producer = Producer({**config, "linger.ms": 1000})  # a second's batching: nothing is sent before it returns
    for request in requests:
        partition = strategy.get_partition_for_subsection(request["section"], request["subsection"])
        producer.produce(topic, value=request["booking_id"], partition=partition)
    return []


@pytest.mark.integration
def test_routed_producer_is_checked_against_where_each_record_landed(lab: Lab, event_id: int) -> None:
    check = producer_code.routed_producer.evaluate
    assert check(producer_code.routed_producer.reference, lab=lab, event_id=event_id).solved
    hashed = check(send_by_key_hash, lab=lab, event_id=event_id)
    assert not hashed.solved and "landed in partition" in hashed.message and "partition=strategy" in hashed.message
    unflushed = check(send_without_flush, lab=lab, event_id=event_id)
    assert not unflushed.solved and "produce() only queues" in unflushed.message


# -- 04: a consumer loop killed mid-stream --------------------------------------------------------------------
def commit_before_processing(config: dict[str, Any], topic: str, process: Any) -> None:
    consumer = Consumer({**config, "enable.auto.commit": False})
    consumer.subscribe([topic])
    while True:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        consumer.commit(message=message, asynchronous=False)
        process(message)


def auto_commit(config: dict[str, Any], topic: str, process: Any) -> None:
    consumer = Consumer(config)  # enable.auto.commit is on by default
    consumer.subscribe([topic])
    while True:
        message = consumer.poll(1.0)
        if message is not None and not message.error():
            process(message)


@pytest.mark.integration
def test_a_committing_loop_is_killed_mid_stream_and_counted(lab: Lab, event_id: int) -> None:
    check = consumer_loop.commit_after_processing.evaluate
    right = check(consumer_loop.commit_after_processing.reference, lab=lab, event_id=event_id)
    assert right.solved, right.message
    assert "none lost" in right.message and "None ran twice" in right.message
    early = check(commit_before_processing, lab=lab, event_id=event_id)
    assert not early.solved and "were never processed" in early.message, early.message
    automatic = check(auto_commit, lab=lab, event_id=event_id)
    assert not automatic.solved and "were never processed" in automatic.message, automatic.message


# -- 08: a replay bounded by time ------------------------------------------------------------------------------
def replay_from_the_beginning(config: dict[str, Any], topic: str, start_ms: int, end_ms: int, process: Any) -> None:
    consumer = Consumer({**config, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    idle = 0
    while idle < 5:
        message = consumer.poll(1.0)
        idle = idle + 1 if message is None else 0
        if message is not None and not message.error():
            process(message)
    consumer.close()


def replay_to_the_end(config: dict[str, Any], topic: str, start_ms: int, end_ms: int, process: Any) -> None:
    consumer = Consumer(config)
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    starts = consumer.offsets_for_times([TopicPartition(topic, p, start_ms) for p in partitions], timeout=10)
    consumer.assign(starts)
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    position = {tp.partition: tp.offset for tp in starts}
    while any(position[p] < ends[p] for p in position):
        message: Any = consumer.poll(1.0)
        if message is not None and not message.error():
            position[message.partition()] = message.offset() + 1
            process(message)
    consumer.close()


@pytest.mark.integration
def test_a_replay_window_is_checked_against_the_records_timestamps(lab: Lab, event_id: int) -> None:
    check = offsets.replay_window.evaluate
    right = check(offsets.replay_window.reference, lab=lab, event_id=event_id)
    assert right.solved, right.message
    everything = check(replay_from_the_beginning, lab=lab, event_id=event_id)
    assert not everything.solved and "written before start_ms were replayed" in everything.message
    too_far = check(replay_to_the_end, lab=lab, event_id=event_id)
    assert not too_far.solved and "at or after end_ms were replayed" in too_far.message
    assert "before start_ms" not in too_far.message, too_far.message


# -- 09: a transactional forwarder killed mid-transaction -------------------------------------------------------
def forward_at_least_once(
    consumer_config: dict[str, Any], producer_config: dict[str, Any], source: str, target: str, process: Any
) -> None:
    consumer = Consumer({**consumer_config, "enable.auto.commit": False})
    producer = Producer({"bootstrap.servers": producer_config["bootstrap.servers"]})
    consumer.subscribe([source])
    while True:
        batch: list[Any] = [m for m in consumer.consume(50, timeout=1.0) if not m.error()]
        for message in batch:
            process(message)
            producer.produce(target, value=message.value(), partition=message.partition())
        if batch:
            producer.flush()
            consumer.commit(asynchronous=False)


@pytest.mark.integration
def test_a_transactional_forwarder_is_killed_and_read_committed(lab: Lab, event_id: int) -> None:
    check = transactions.transactional_forwarder.evaluate
    right = check(transactions.transactional_forwarder.reference, lab=lab, event_id=event_id)
    assert right.solved and "all 60 records once each" in right.message, right.message
    plain = check(forward_at_least_once, lab=lab, event_id=event_id)
    assert not plain.solved and "no transaction markers" in plain.message, plain.message
