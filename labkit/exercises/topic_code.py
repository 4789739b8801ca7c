"""Notebook 01's code exercise: create a topic with `AdminClient.create_topics`, and call it again safely.

The check calls the learner's `create_topic(admin, name)` twice with a fresh name and a real AdminClient, then
describes the topic on the brokers (partitions, replicas, in-sync replicas, its configs) and deletes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from labkit.errors import ClusterError
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import delete_topic, scratch_name
from labkit.experiments.scratch_topics import topic_config
from labkit.kafka.admin import failed_with
from labkit.kafka.clients import base_config
from labkit.kafka.topics import PartitionInfo, describe_partitions
from labkit.polling import poll

if TYPE_CHECKING:
    from labkit.lab import Lab

PARTITIONS, REPLICATION, MIN_ISR, RETENTION_MS = 6, 3, 2, 3_600_000
METADATA_WAIT = 15.0  # s: the controller created the topic; every broker learns of it a moment later


def _configs(lab: Lab, topic: str) -> dict[str, str]:
    """The topic's configs; asked again while the broker that answers has not learnt of the new topic yet."""

    def describe() -> dict[str, str] | None:
        try:
            return topic_config(lab.bootstrap_servers, topic)
        except ClusterError as error:
            if not failed_with(error, KafkaError.UNKNOWN_TOPIC_OR_PART):
                raise
            return None

    configs = poll(describe, timeout=METADATA_WAIT, interval=0.2)
    if configs is None:
        raise ClusterError(f"no broker knew topic {topic} {METADATA_WAIT:.0f} s after it was created")
    return configs


def _call(answer: Callable[..., Any], admin: AdminClient, topic: str, which: str) -> str:
    """ "" when `answer(admin, topic)` returned, else what it raised, said for a learner."""
    try:
        answer(admin, topic)
    except KafkaException as error:
        code = error.args[0].code() if error.args and isinstance(error.args[0], KafkaError) else None
        if which == "second" and code == KafkaError.TOPIC_ALREADY_EXISTS:
            return (
                "the second call raised TOPIC_ALREADY_EXISTS: the future of create_topics raises the broker's "
                "error from .result(); catch KafkaException and let that one code pass (error.args[0].code())"
            )
        return f"the {which} call raised {error!r}"
    except Exception as error:  # the learner's code: any error is a verdict, not a crash
        return f"the {which} call raised {type(error).__name__}: {error}"
    return ""


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(f"answer with your function create_topic(admin, name), got {type(answer).__name__}")
    topic, _ = scratch_name(event_id, "create")
    admin = AdminClient(base_config(lab.bootstrap_servers, "labkit-exercise-admin"))
    try:
        problem = _call(answer, admin, topic, "first")
        if problem:
            return wrong(problem)
        rows = describe_partitions(lab.admin, [topic])
        problems = _differences(rows, _configs(lab, topic))
        again = _call(answer, admin, topic, "second")
        if problems or again:
            return wrong(*problems, again)
        leaders = sorted({row.leader for row in rows})
        return correct(
            f"{PARTITIONS} partitions led by brokers {leaders}, {REPLICATION} replicas each, min.insync.replicas="
            f"{MIN_ISR}, retention.ms={RETENTION_MS}; and the second call found the topic there and did not fail."
        )
    finally:
        delete_topic(lab, topic)


def _differences(rows: list[PartitionInfo], configs: dict[str, str]) -> list[str]:
    """What the topic on the brokers has that the statement did not ask for."""
    problems = []
    if len(rows) != PARTITIONS:
        problems.append(f"it has {len(rows)} partitions, not {PARTITIONS} (NewTopic's num_partitions)")
    replicas = sorted({len(row.replicas) for row in rows})
    if replicas != [REPLICATION]:
        problems.append(f"its partitions have {replicas} replicas, not {REPLICATION} (replication_factor)")
    if configs.get("min.insync.replicas") != str(MIN_ISR):
        problems.append(f"min.insync.replicas is {configs.get('min.insync.replicas')}, not {MIN_ISR} (config=…)")
    if configs.get("retention.ms") != str(RETENTION_MS):
        problems.append(f"retention.ms is {configs.get('retention.ms')}, not {RETENTION_MS} (one hour, in ms)")
    return problems


def _reference(admin: AdminClient, name: str) -> None:
    topic = NewTopic(
        name,
        num_partitions=6,
        replication_factor=3,
        config={"min.insync.replicas": "2", "retention.ms": str(60 * 60 * 1000)},
    )
    futures = admin.create_topics([topic])  # {name: future}: the request is sent, not yet answered
    try:
        futures[name].result(timeout=30)  # None once the controller created it; raises the broker's error
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


create_topic_in_code = Exercise(
    key="01.create_topic_in_code",
    notebook="01_names_and_topics",
    title="create a topic with AdminClient.create_topics, safe to call twice",
    statement=(
        "Write `create_topic(admin, name)`: with the AdminClient `admin`, create topic `name` with "
        f"{PARTITIONS} partitions, replication factor {REPLICATION}, `min.insync.replicas={MIN_ISR}` and a retention "
        "of one hour, and return once the brokers have answered. Called again for the same name, it must not fail: "
        "the topic is there, which is what the caller wanted. The check calls it twice with a fresh name, "
        "describes the topic on the brokers and deletes it."
    ),
    hints=(
        "NewTopic(name, num_partitions=…, replication_factor=…, config={…}): config values are strings",
        "admin.create_topics([...]) returns {name: future}; future.result() waits and raises KafkaException",
        "error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS is the one error a second call may ignore",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (create_topic_in_code,)
