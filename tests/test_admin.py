"""Consumer groups, lag and reset on the real test cluster."""

from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from labkit import KafkaConsumerGroupBuilder, KafkaTopicBuilder, Settings, setup_event_infrastructure_sync
from labkit.kafka.admin import Admin, AdminRetry
from labkit.kafka.cleanup import ResetPlan, apply_reset, plan_reset
from labkit.kafka.clients import base_config
from labkit.kafka.groups import GroupDescription, MemberInfo, describe_group, list_groups
from labkit.kafka.topics import list_topics
from labkit.polling import wait_until


@pytest.fixture
def live_consumer(settings: Settings, event_id: int) -> Iterator[tuple[Consumer, str, str]]:
    """A group member that consumed and committed 4 of the 10 messages on partition 3 and is still in the group."""
    setup_event_infrastructure_sync(event_id, settings=settings)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    group = KafkaConsumerGroupBuilder.seat_reservation_service(event_id)
    bootstrap = settings.kafka_bootstrap_servers
    assert bootstrap is not None
    producer = Producer(base_config(bootstrap, "test-producer"))
    for i in range(10):
        producer.produce(topic, value=b"x%d" % i, partition=3)
    assert producer.flush(30) == 0
    consumer = Consumer(
        base_config(
            bootstrap, "test-consumer-1", group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
        )
    )
    consumer.subscribe([topic])
    taken = []
    for _ in range(200):
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            taken.append(msg)
        if len(taken) == 4:
            break
    assert len(taken) == 4
    consumer.commit(message=taken[-1], asynchronous=False)
    try:
        yield consumer, topic, group
    finally:
        consumer.close()


@pytest.mark.integration
def test_describe_shows_a_live_members_assignment_committed_offset_and_lag(
    admin: Admin, live_consumer: tuple[Consumer, str, str]
) -> None:
    _, topic, group = live_consumer
    description = describe_group(admin, group)
    assert description.state == "Stable"
    assert [m.client_id for m in description.members] == ["test-consumer-1"]
    assert len(description.members[0].partitions) == 100
    p3 = next(p for p in description.partitions if p.topic == topic and p.partition == 3)
    assert (p3.committed, p3.end, p3.lag) == (4, 10, 6)
    assert p3.member_id == description.members[0].member_id
    assert description.total_lag == 6


@pytest.mark.integration
def test_reset_keeps_event_1_and_refuses_a_group_with_members(
    settings: Settings, admin: Admin, event_id: int, live_consumer: tuple[Consumer, str, str]
) -> None:
    setup_event_infrastructure_sync(1, settings=settings)
    _, _, busy_group = live_consumer
    plan = plan_reset(admin, "event-id-1_*")
    assert busy_group in plan.busy_groups and busy_group not in plan.delete_groups
    assert set(KafkaTopicBuilder.get_all_topics(event_id)) <= set(plan.delete_topics)
    assert not set(KafkaTopicBuilder.get_all_topics(1)) & set(plan.delete_topics)

    apply_reset(admin, plan)
    remaining = list_topics(admin)
    assert set(KafkaTopicBuilder.get_all_topics(1)) <= set(remaining)
    assert not set(KafkaTopicBuilder.get_all_topics(event_id)) & set(remaining)
    assert busy_group in list_groups(admin)


@pytest.mark.integration
def test_reset_deletes_an_empty_group(settings: Settings, admin: Admin, event_id: int) -> None:
    setup_event_infrastructure_sync(event_id, settings=settings)
    group = KafkaConsumerGroupBuilder.ticketing_service(event_id)
    consumer = Consumer(base_config(settings.kafka_bootstrap_servers or "", "test-empty", group_id=group))
    topic = KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(event_id)

    def committed() -> bool:  # the group's coordinator may learn of the new topic a moment after its creation
        try:
            consumer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            return False
        return True

    wait_until(committed, 30, "a first commit of the new group")
    consumer.close()
    assert group in list_groups(admin)
    apply_reset(admin, plan_reset(admin, "event-id-1_*"))
    assert group not in list_groups(admin)


@pytest.mark.integration
def test_a_reset_of_topics_and_groups_deleted_meanwhile_succeeds(admin: Admin, event_id: int) -> None:
    """Another client (a test, a notebook) may delete them between the plan and its application."""
    gone = ResetPlan([f"test-admin-{event_id}-never-made"], [f"test-admin-{event_id}-no-group"], {}, [])
    apply_reset(admin, gone)
    assert not {*gone.delete_topics, *gone.delete_groups} & {
        *list_topics(admin),
        *list_groups(admin),
    }


@pytest.mark.integration
def test_a_renewed_admin_asks_through_a_fresh_client_from_then_on(settings: Settings) -> None:
    """What Admin.request does after a request went unanswered: its later calls go through a new client."""
    with Admin(settings.kafka_bootstrap_servers or "", client_id="test-renew") as admin:
        stale = admin.client
        admin.renew()
        fresh = admin.client
        assert fresh is not stale and admin.client is fresh  # renewed once, then kept
        assert list_groups(admin) is not None and fresh.list_topics(timeout=10).brokers  # answering


@pytest.mark.unit
@pytest.mark.parametrize(
    ("cause", "failing_for", "step"),
    [
        (TimeoutError(), 0.0, "renew"),  # our wait ran out: no answer
        (KafkaException(KafkaError(KafkaError._TIMED_OUT)), 0.0, "renew"),  # librdkafka's request timed out
        (KafkaException(KafkaError(KafkaError.NOT_COORDINATOR)), 1.0, "again"),  # the coordinator moves
        (KafkaException(KafkaError(KafkaError.NOT_COORDINATOR)), 10.0, "renew"),  # ... for as long as an attempt
        (KafkaException(KafkaError(KafkaError.GROUP_ID_NOT_FOUND)), 0.0, "raise"),  # an answer, not retriable
        (None, 0.0, "raise"),
    ],
)
def test_the_retry_policy_asks_again_renews_or_gives_up(
    cause: BaseException | None, failing_for: float, step: str
) -> None:
    assert AdminRetry(total=30.0, attempt=10.0).next_step(cause, failing_for) == step


@pytest.mark.unit
def test_reconciliation_names_what_each_member_still_has_to_give_up_or_take() -> None:
    t = "reserve-seats"
    group = GroupDescription(
        group_id="g",
        state="Unknown",  # KIP-848's Reconciling, as confluent-kafka lists it
        members=[
            MemberInfo("m1", "old", "h", ((t, 0), (t, 1), (t, 2)), target=((t, 0), (t, 1))),
            MemberInfo("m2", "new", "h", (), target=((t, 2),)),
            MemberInfo("m3", "classic", "h", ((t, 3),)),  # no target reported: owns what it should
        ],
        partitions=[],
    )
    assert group.reconciliation() == (
        "Unknown, 3 member(s): old: owns 3, target 2, to give up [2]; new: owns 0, target 1, to take [2]; "
        "classic: owns 1, target 1"
    )
