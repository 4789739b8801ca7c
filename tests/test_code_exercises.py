"""The exercises answered in Kafka client code, both ways on the real cluster: the reference solution passes, and
typical wrong answers are rejected with the reason that teaches. The wrong answers are written here as a learner
would write them (the consumer loops run in a process of their own, from their source)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from labkit import Lab
from labkit.exercises import consumer_loop, producer_code, topic_code
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
