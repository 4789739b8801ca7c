"""The topics and groups a check runs a learner's code against: fresh for each check, named by the spec's pattern
under the notebook's event (so that deleting the event deletes whatever a failed check left), deleted at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from confluent_kafka import Producer

from labkit.domain.naming import group_name
from labkit.errors import DeliveryError
from labkit.experiments.scratch_topics import create_topic, experiment_topic
from labkit.kafka.clients import base_config

if TYPE_CHECKING:
    from labkit.lab import Lab


def scratch_name(event_id: int, what: str) -> tuple[str, str]:
    """(topic, group) for one run of a check: `exercise-<what>-<random>` under the event."""
    token = uuid.uuid4().hex[:8]
    return experiment_topic(event_id, f"exercise-{what}-{token}"), group_name(event_id, f"exercise-{what}-{token}")


@contextmanager
def scratch_topic(lab: Lab, topic: str, partitions: int, config: Mapping[str, str] | None = None) -> Iterator[str]:
    """`topic`, created (replication min(3, brokers)) and deleted when the block ends."""
    create_topic(lab.bootstrap_servers, topic, partitions, config)
    try:
        yield topic
    finally:
        delete_quietly(lab, topic)


def delete_quietly(lab: Lab, topic: str) -> None:
    """Delete `topic` if it exists; the check's verdict matters more than its clean-up (the event's teardown
    deletes what is left)."""
    futures = lab.admin.client.delete_topics([topic], operation_timeout=lab.admin.timeout)
    try:
        futures[topic].result(timeout=lab.admin.timeout)
    except Exception:  # absent already, or the cluster is busy: the teardown retries
        return


def write_numbered(lab: Lab, topic: str, count: int, partitions: int) -> list[str]:
    """Values "0" … "count-1", record i to partition i % partitions, acknowledged by every in-sync replica."""
    producer = Producer(base_config(lab.bootstrap_servers, "labkit-exercise-writer", acks="all"))
    values = [str(i) for i in range(count)]
    for i, value in enumerate(values):
        producer.produce(topic, value=value.encode(), partition=i % partitions)
    left = producer.flush(30)
    if left:
        raise DeliveryError(f"{left} of {count} records to {topic} were not acknowledged in 30 s")
    return values
