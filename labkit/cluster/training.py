"""The training load of a start that records the brokers' AOT cache (cluster/warm_start.py): what the lab does
beyond the warm-up's pipe, so that the cache holds those classes and their profiles too. A topic of many
partitions, transactions whose consumed offsets commit with them (read-process-write), a read_committed reader in
a classic group, a compacted topic, and topics created and deleted. Bounded in time; a failure is logged, never
raised: a start must not fail for its training."""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from labkit.kafka.clients import KAFKA_LOG, connection_config

log = logging.getLogger(__name__)
TRAINING_SECONDS = 8.0  # of transactions; the whole load takes about twice that
PARTITIONS = 30
TIMEOUT = 30.0


def run_training_load(bootstrap_servers: str, replication: int) -> float:
    """Run the load against the cluster; returns its seconds."""
    began = time.monotonic()
    run = uuid.uuid4().hex[:8]
    source, target, compacted = (f"aot-training-{run}-{name}" for name in ("in", "out", "compacted"))
    common: dict[str, Any] = {**connection_config(bootstrap_servers), "logger": KAFKA_LOG}  # not on stderr
    admin = AdminClient(common)
    try:
        _wait(admin.create_topics([NewTopic(t, PARTITIONS, replication) for t in (source, target)]))
        compaction = {"cleanup.policy": "compact", "segment.ms": "1000"}
        _wait(admin.create_topics([NewTopic(compacted, 3, replication, config=compaction)]))
        _produce(common, source, compacted)
        _transactions(common, source, target, run, began + TRAINING_SECONDS)
        _read_committed(common, target, run)
    except Exception as error:  # a start never fails for its training: a timeout, a fenced producer, …
        log.warning("the AOT cache's training load stopped early: %s", error)
    finally:
        _wait(admin.delete_topics([source, target, compacted]), quiet=True)
        _wait(admin.delete_consumer_groups([f"aot-training-{run}-tx", f"aot-training-{run}-reader"]), quiet=True)
    return time.monotonic() - began


def _wait(futures: dict[Any, Future[Any]], quiet: bool = False) -> None:
    for future in futures.values():
        try:
            future.result(TIMEOUT)
        except Exception:  # a Kafka error or a timeout
            if not quiet:
                raise


def _produce(common: dict[str, Any], source: str, compacted: str) -> None:
    """Idempotent, keyed records over every partition; keyed updates of a compacted topic, and tombstones."""
    producer = Producer({**common, "enable.idempotence": True, "linger.ms": 5})
    for i in range(3000):
        producer.produce(source, f"record {i}".encode(), key=str(i % 97).encode())
        producer.produce(compacted, f"value {i}".encode() if i % 10 else None, key=str(i % 50).encode())
        producer.poll(0)
    if producer.flush(TIMEOUT) > 0:
        raise KafkaException("the training records were not all acknowledged")


def _transactions(common: dict[str, Any], source: str, target: str, run: str, until: float) -> None:
    """Read-process-write in transactions: consumed offsets committed with the records written."""
    group = f"aot-training-{run}-tx"
    consumer = Consumer(
        {**common, "group.id": group, "group.protocol": "consumer", "auto.offset.reset": "earliest"}
        | {"enable.auto.commit": False}
    )
    producer = Producer({**common, "transactional.id": f"aot-training-{run}", "linger.ms": 5})
    try:
        consumer.subscribe([source])
        producer.init_transactions(TIMEOUT)
        while time.monotonic() < until:
            batch = [m for m in consumer.consume(100, 0.2) if m.error() is None]
            if not batch:
                continue
            producer.begin_transaction()
            for message in batch:
                producer.produce(target, message.value(), key=message.key())
            offsets = consumer.position(consumer.assignment())  # the next offset of each partition
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), TIMEOUT)
            producer.commit_transaction(TIMEOUT)
    finally:
        consumer.close()


def _read_committed(common: dict[str, Any], target: str, run: str) -> None:
    """A classic group reading only committed records, committing as it goes, for a few seconds."""
    consumer = Consumer(
        {
            **common,
            "group.id": f"aot-training-{run}-reader",
            "group.protocol": "classic",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    try:
        consumer.subscribe([target])
        until = time.monotonic() + 4.0
        while time.monotonic() < until:
            consumer.consume(500, 0.2)
    finally:
        consumer.close()
