"""The topics and groups a check runs a learner's code against: fresh for each check, named by the spec's pattern
under the notebook's event (so that deleting the event deletes whatever a failed check left), deleted at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from labkit.domain.naming import group_name
from labkit.exercises.learner_process import RESTART_TIMEOUT
from labkit.experiments.keyed import KeyedRecord, write_records
from labkit.experiments.scratch_topics import create_topic, experiment_topic
from labkit.kafka.admin import broker_configs
from labkit.kafka.cleanup import ResetPlan, apply_reset
from labkit.kafka.groups import describe_group

if TYPE_CHECKING:
    from labkit.lab import Lab


def scratch_name(event_id: int, what: str) -> tuple[str, str]:
    """(topic, group) for one run of a check: `exercise-<what>-<random>` under the event."""
    token = uuid.uuid4().hex[:8]
    return experiment_topic(event_id, f"exercise-{what}-{token}"), group_name(event_id, f"exercise-{what}-{token}")


@contextmanager
def scratch_topic(
    lab: Lab,
    topic: str,
    partitions: int,
    config: Mapping[str, str] | None = None,
    leaders: Sequence[int] | None = None,
) -> Iterator[str]:
    """`topic`, created (replication min(3, brokers); partition i led by `leaders[i]` if given) and deleted when
    the block ends."""
    create_topic(lab.bootstrap_servers, topic, partitions, config, leaders)
    try:
        yield topic
    finally:
        delete_topic(lab, topic)


def delete_topic(lab: Lab, topic: str) -> None:
    """Delete `topic` (absent already is fine), without waiting for every broker to unlist it."""
    apply_reset(lab.admin, ResetPlan(delete_topics=[topic], delete_groups=[], busy_groups={}, kept=[]), wait=False)


def write_numbered(lab: Lab, topic: str, count: int, partitions: int) -> None:
    """Values "0" … "count-1", record i to partition i % partitions, acknowledged by every in-sync replica."""
    records = [KeyedRecord(key=None, value=str(i).encode(), partition=i % partitions) for i in range(count)]
    write_records(lab.bootstrap_servers, topic, records)


def group_config(lab: Lab, group: str, **settings: Any) -> dict[str, Any]:
    """The config a check hands a learner's consumer: the group (KIP-848's protocol, as the services use), from the
    earliest offset, and an auto-commit timer of 200 ms (Kafka's default is 5 s): if the learner leaves auto-commit
    on, it commits within the check's time, and the check sees what it does."""
    return {
        **lab.kafka_config,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "auto.commit.interval.ms": 200,
        **settings,
    }


def committed_offsets(lab: Lab, group: str, topic: str) -> dict[int, int]:
    """{partition: committed offset} of `group` on `topic`, through the lab's admin client."""
    partitions = describe_group(lab.admin, group).partitions
    return {p.partition: p.committed for p in partitions if p.topic == topic and p.committed is not None}


def restart_timeout(lab: Lab) -> float:
    """s a restarted learner's consumer may take to finish: RESTART_TIMEOUT past the cluster's KIP-848 session,
    which a killed member keeps its partitions for (2.5 s on labkit's own cluster, 45 s by Kafka's default)."""
    session_ms = int(broker_configs(lab.admin).get("group.consumer.session.timeout.ms", "45000"))
    return RESTART_TIMEOUT + session_ms / 1000
