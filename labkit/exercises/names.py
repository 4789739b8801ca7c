"""Notebook 01's exercises: the spec's names written by hand, and a topic created with Kafka's kafka-topics."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from confluent_kafka.admin import ConfigResource

from labkit.domain.naming import (
    SEAT_RESERVATION_SERVICE,
    TICKETING_SERVICE,
    KafkaConsumerGroupBuilder,
    KafkaTopicBuilder,
    topic_name,
)
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.kafka.topics import broker_count, describe_partitions, list_topics

if TYPE_CHECKING:
    from labkit.lab import Lab

OTHER_EVENT = 42


def name_differences(answer: str, expected: str, what: str) -> list[str]:
    """Why `answer` is not `expected`, part by part: the runs of underscores and the words between them."""
    mine, theirs = re.split(r"(_+)", answer), re.split(r"(_+)", expected)
    if len(mine) != len(theirs):
        shared = len(next((answer[:i] for i in range(len(answer), 0, -1) if expected.startswith(answer[:i])), ""))
        return [
            f"your {what} has {len(mine) // 2 + 1} parts between underscores, the spec's has {len(theirs) // 2 + 1}: "
            f"they agree up to {expected[:shared]!r}, then the spec goes on {expected[shared : shared + 30]!r}"
        ]
    problems = []
    for index, (got, want) in enumerate(zip(mine, theirs, strict=True)):
        if got == want:
            continue
        before = "".join(theirs[:index]).rstrip("_")[-40:] or "the start"
        if want.startswith("_"):
            problems.append(f"after {before!r} the spec puts {len(want)} underscores, your {what} has {len(got)}")
        elif want.startswith("event-id-") and got.startswith("event-id-"):
            problems.append(f"{got!r} names another event: this is event {expected.split('_')[0][9:]}")
        else:
            problems.append(f"where the spec has {want!r} (after {before!r}) your {what} has {got!r}")
    return problems


def _judge_names(answer: object) -> Verdict:
    topic = KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(OTHER_EVENT)
    group = KafkaConsumerGroupBuilder.ticketing_service(OTHER_EVENT)
    if not isinstance(answer, dict) or set(answer) != {"topic", "group"}:
        return wrong('answer with a dict of two names: {"topic": "…", "group": "…"}')
    problems: list[str] = []
    for key, expected in (("topic", topic), ("group", group)):
        value = answer[key]
        if not isinstance(value, str):
            problems.append(f"the {key} must be a string, got {type(value).__name__}")
        elif value != expected:
            problems += name_differences(value, expected, key)
    swapped = f"{TICKETING_SERVICE}___to___{SEAT_RESERVATION_SERVICE}"
    if isinstance(answer["topic"], str) and swapped in answer["topic"]:
        problems.insert(0, "a failure reply goes from the seat-reservation service to ticketing: swap the two")
    if problems:
        return wrong(*problems)
    return correct(
        "six underscores around the action in a topic, five between the event and the service in a group, and the "
        "event id once more after `--`: a glob like event-id-42______* matches the topics and never the groups."
    )


def _names_reference() -> dict[str, str]:
    return {
        "topic": "event-id-42______seat-reservation-failed______seat-reservation-service___to___ticketing-service",
        "group": "event-id-42_____ticketing-service--42",
    }


event_names = Exercise(
    key="01.event_names",
    notebook="01_names_and_topics",
    title="name a topic and a group of another event by hand",
    statement=(
        "Without the builders, write the name of event 42's `seat-reservation-failed` topic and of event 42's "
        'ticketing consumer group: `{"topic": "…", "group": "…"}`.'
    ),
    hints=(
        "topics read event-id-<N>______<action>______<from>___to___<to>; groups event-id-<N>_____<service>--<N>",
        "a failure reply is sent by the seat-reservation service to the ticketing service; the services are named "
        f"{TICKETING_SERVICE!r} and {SEAT_RESERVATION_SERVICE!r}",
        "count the underscores: six around the action, three around `to`, five in a group name",
    ),
    judge=_judge_names,
    reference=_names_reference,
)


# -- a topic of one's own -----------------------------------------------------------------------------------
RELEASE_ACTION = "release-seats"


def release_topic(event_id: int) -> str:
    """The topic the exercise asks for: a `release-seats` request from ticketing to seat-reservation."""
    return topic_name(event_id, RELEASE_ACTION, TICKETING_SERVICE, SEAT_RESERVATION_SERVICE)


def _min_insync_replicas(lab: Lab, topic: str) -> int:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    (future,) = lab.admin.client.describe_configs([resource]).values()
    return int(lab.admin.result(future, f"describing {topic}'s configs")["min.insync.replicas"].value)


def _judge_topic(answer: object, lab: Lab, event_id: int) -> Verdict:
    expected = release_topic(event_id)
    if not isinstance(answer, str):
        return wrong(f"answer with the topic's name (a string), got {type(answer).__name__}")
    if answer != expected:
        return wrong(*name_differences(answer, expected, "topic"))
    admin = lab.admin
    if answer not in list_topics(admin):
        return wrong(f"there is no topic {answer} on the cluster yet: create it with kafka-topics --create")
    brokers = broker_count(admin)
    sections = lab.runtime.inventory.require_seating(event_id).sections
    rows = describe_partitions(admin, [answer])
    replication, min_isr = min(3, brokers), min(2, brokers)
    problems = []
    if len(rows) != len(sections):
        problems.append(f"it has {len(rows)} partitions; one per section is {len(sections)} ({', '.join(sections)})")
    for row in rows:
        if len(row.replicas) != replication:
            problems.append(
                f"partition {row.partition} has {len(row.replicas)} replica(s) {list(row.replicas)}: with replication "
                f"{replication} every broker holds a copy, and one can be lost"
            )
        elif set(row.isr) != set(row.replicas):
            problems.append(
                f"partition {row.partition}: in-sync replicas {list(row.isr)} of {list(row.replicas)}; a new topic's "
                "followers catch up in a moment: check again"
            )
    configured = _min_insync_replicas(lab, answer)
    if configured != min_isr:
        problems.append(
            f"min.insync.replicas is {configured}: with {replication} replicas, {min_isr} keeps an acknowledged "
            "write on two brokers and still accepts writes with one broker down (--config min.insync.replicas=…)"
        )
    if problems:
        return wrong(*problems)
    leaders = sorted({row.leader for row in rows})
    return correct(
        f"{answer}: {len(rows)} partitions, {replication} replicas each, all in sync, min.insync.replicas="
        f"{configured}; brokers {leaders} lead them. It is deleted with the event."
    )


def _topic_reference(lab: Lab, event_id: int) -> str:
    topic = f"event-id-{event_id}______release-seats______ticketing-service___to___seat-reservation-service"
    sections = len(lab.runtime.inventory.require_seating(event_id).sections)  # 10 in the default venue
    command = f"--create --topic {topic} --partitions {sections} --replication-factor 3 --config min.insync.replicas=2"
    lab.kafka_tool("kafka-topics", *command.split())  # in a shell: labkit kafka kafka-topics --create --topic …
    return topic


own_topic = Exercise(
    key="01.own_topic",
    notebook="01_names_and_topics",
    title="create a topic with Kafka's kafka-topics",
    statement=(
        "Cancelling a booking will need a `release-seats` request from the ticketing service to the "
        "seat-reservation service. Create its topic for this notebook's event with Kafka's own kafka-topics "
        "(`lab.kafka_tool('kafka-topics', …)` here, `labkit kafka kafka-topics …` in a shell): one partition per "
        "section, replication 3, min.insync.replicas 2. Answer with the topic's name."
    ),
    hints=(
        "the name follows the spec's topic pattern, with release-seats as the action",
        "kafka-topics --create --topic NAME --partitions P --replication-factor R --config min.insync.replicas=M",
        "kafka-topics --describe --topic NAME shows what you created: partitions, replicas, ISR",
    ),
    judge=_judge_topic,
    reference=_topic_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (event_names, own_topic)
