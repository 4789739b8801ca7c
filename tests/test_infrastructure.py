"""Event topics on the real 3-broker test cluster."""

import asyncio
import math

import pytest
from confluent_kafka.admin import NewTopic

from labkit import (
    KafkaTopicBuilder,
    Lab,
    SeatingConfig,
    Settings,
    setup_event_infrastructure,
    setup_event_infrastructure_sync,
)
from labkit.errors import TopicLayoutError
from labkit.kafka.admin import Admin
from labkit.kafka.settling import IN_A_ROW, PROBE_TOPIC, wait_until_responsive
from labkit.kafka.topics import describe_partitions, list_topics

pytestmark = pytest.mark.integration


def test_event_topics_have_one_partition_per_subsection_replication_3_and_full_isr(
    settings: Settings, admin: Admin, event_id: int
) -> None:
    outcome = asyncio.run(setup_event_infrastructure(event_id=event_id, settings=settings))
    assert outcome == {name: "created" for name in KafkaTopicBuilder.get_all_topics(event_id)}

    partitions = describe_partitions(admin, KafkaTopicBuilder.get_all_topics(event_id))
    by_topic: dict[str, list] = {}
    for p in partitions:
        by_topic.setdefault(p.topic, []).append(p)
    reserve = by_topic[KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)]
    assert [p.partition for p in reserve] == list(range(100))
    for p in partitions:
        assert len(p.replicas) == 3, p
        assert sorted(p.isr) == sorted(p.replicas), p
        assert p.leader in p.replicas
    assert len(by_topic[KafkaTopicBuilder.dead_letter__services_to_operator(event_id)]) == 1


def test_setup_is_idempotent(settings: Settings, event_id: int) -> None:
    setup_event_infrastructure_sync(event_id, settings=settings)
    again = setup_event_infrastructure_sync(event_id, settings=settings)
    assert set(again.values()) == {"exists"}


def test_a_topic_with_the_wrong_partition_count_is_an_error_not_used(
    settings: Settings, admin: Admin, event_id: int
) -> None:
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    admin.client.create_topics([NewTopic(topic, 10, 3)])[topic].result(30)
    with pytest.raises(TopicLayoutError, match=f"{topic} has 10, needs 100"):
        setup_event_infrastructure_sync(event_id, settings=settings)


def test_a_smaller_venue_gets_fewer_partitions(settings: Settings, admin: Admin, event_id: int) -> None:
    small = SeatingConfig(sections="AB", subsections=2, rows=2, seats_per_row=5)
    setup_event_infrastructure_sync(event_id, seating=small, settings=settings)
    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)
    assert len(describe_partitions(admin, [topic])) == 4


def test_setup_event_waits_until_the_new_partitions_answer_quickly(lab: Lab, event_id: int) -> None:
    venue = SeatingConfig(sections="A", subsections=10)
    topics = lab.setup_event(event_id, venue)
    settling = lab.last_settling
    assert settling is not None and set(topics.values()) == {"created"}
    assert settling.settled, settling
    assert settling.probes >= IN_A_ROW
    again = lab.setup_event(event_id, venue)
    assert set(again.values()) == {"exists"} and lab.last_settling is settling  # nothing created, no wait


def test_a_wait_for_quick_answers_is_bounded_and_says_so(admin: Admin) -> None:
    settling = wait_until_responsive(admin, replication=3, quick_ms=0.0, timeout=2.0)
    assert not settling.settled and settling.probes >= 1  # no acks=all produce is confirmed in 0 ms
    assert math.isfinite(settling.slowest_ms) and settling.seconds >= 2.0
    assert str(settling).startswith("still slow after")
    assert PROBE_TOPIC in list_topics(admin, include_internal=True)
    assert PROBE_TOPIC not in list_topics(admin)  # left out of listings, like __consumer_offsets
