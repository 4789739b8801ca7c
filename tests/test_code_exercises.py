"""The exercises answered in Kafka client code, both ways on the real cluster: the reference solution passes, and
typical wrong answers are rejected with the reason that teaches. The wrong answers are written here as a learner
would write them (the consumer loops run in a process of their own, from their source)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import AcknowledgeType, Consumer, Producer, ShareConsumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from labkit import KafkaTopicBuilder, Lab
from labkit.domain.messages import MessageError, ReserveSeats, decode
from labkit.exercises import (
    consumer_loop,
    delivery,
    keys,
    lag_code,
    offsets,
    producer_code,
    raw_request,
    rebalance,
    share_work,
    slow_work,
    stream_windows,
    topic_code,
    transactions,
)
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


def forward_with_auto_commit(
    consumer_config: dict[str, Any], producer_config: dict[str, Any], source: str, target: str, process: Any
) -> None:
    consumer = Consumer(consumer_config)  # enable.auto.commit left on: offsets committed outside the transactions
    producer = Producer(producer_config)
    producer.init_transactions(30)
    consumer.subscribe([source])
    while True:
        batch: list[Any] = [m for m in consumer.consume(50, timeout=1.0) if not m.error()]
        if batch:
            producer.begin_transaction()
            for message in batch:
                process(message)
                producer.produce(target, value=message.value(), partition=message.partition())
            producer.commit_transaction(30)


@pytest.mark.integration
def test_a_transactional_forwarder_is_killed_and_read_committed(lab: Lab, event_id: int) -> None:
    check = transactions.transactional_forwarder.evaluate
    right = check(transactions.transactional_forwarder.reference, lab=lab, event_id=event_id)
    assert right.solved and "All 60 records once each" in right.message, right.message
    plain = check(forward_at_least_once, lab=lab, event_id=event_id)
    assert not plain.solved and "in the output twice" in plain.message, plain.message
    ticking = check(forward_with_auto_commit, lab=lab, event_id=event_id)
    assert not ticking.solved and "never reached the committed output" in ticking.message, ticking.message


# -- 03: a reserve-seats request by hand, answered by the real service ---------------------------------------
def send_malformed(
    config: dict[str, Any], event_id: int, booking_id: str, section: str, subsection: int, quantity: int
) -> None:
    producer = Producer(config)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    request = {"schema": 1, "type": "reserve-seats", "booking_id": booking_id, "section": section}
    producer.produce(topic, value=json.dumps(request), partition=16)  # B-7's: the fields are what is wrong
    producer.flush(30)


@pytest.mark.integration
def test_a_request_by_hand_is_answered_or_parked_by_the_service(lab: Lab) -> None:
    event_id = lab.new_event()
    lab.start_consumers(ticketing=0, seat_reservation=1, event_id=event_id)
    lab.wait_for_consumers(60)
    check = raw_request.request_by_hand.evaluate
    right = check(raw_request.request_by_hand.reference, lab=lab, event_id=event_id)
    assert right.solved and "RESERVED: seats B-7-" in right.message, right.message
    malformed = check(send_malformed, lab=lab, event_id=event_id)
    assert not malformed.solved and "PARKED:" in malformed.message and "event_id" in malformed.message, (
        malformed.message
    )


# -- 06: what the delivery reports say ------------------------------------------------------------------------
def send_with_acks_0(config: dict[str, Any], topic: str, records: dict[int, str]) -> set[int]:
    producer, failed = Producer({**config, "acks": 0}), set()
    for number, value in records.items():
        producer.produce(
            topic,
            key=str(number),
            value=value,
            on_delivery=lambda e, m: failed.add(int(m.key() or b"-1")) if e else None,
        )
    producer.flush(30)
    return failed


@pytest.mark.integration
def test_delivery_reports_are_compared_with_the_log(lab: Lab, event_id: int) -> None:
    check = delivery.delivery_reports.evaluate
    right = check(delivery.delivery_reports.reference, lab=lab, event_id=event_id)
    assert right.solved and "exactly which" in right.message, right.message
    blind = check(send_with_acks_0, lab=lab, event_id=event_id)
    assert not blind.solved and "With acks=0 the broker never answers" in blind.message, blind.message


# -- 07: commit on revoke -------------------------------------------------------------------------------------
def commit_in_batches_only(config: dict[str, Any], topic: str, process: Any) -> None:
    consumer = Consumer({**config, "enable.auto.commit": False})
    consumer.subscribe([topic])
    processed = 0
    while True:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        process(message)
        processed += 1
        if processed % 100 == 0:
            consumer.commit(asynchronous=False)


@pytest.mark.integration
def test_a_member_added_finds_what_was_committed_on_revoke(lab: Lab, event_id: int) -> None:
    check = rebalance.commit_on_revoke.evaluate
    right = check(rebalance.commit_on_revoke.reference, lab=lab, event_id=event_id)
    assert right.solved and "committed on revoke" in right.message, right.message
    batches = check(commit_in_batches_only, lab=lab, event_id=event_id)
    assert not batches.solved and "were processed twice" in batches.message, batches.message
    eager = check(consumer_loop.commit_after_processing.reference, lab=lab, event_id=event_id)
    assert not eager.solved and "committed before any rebalance" in eager.message, eager.message
    automatic = check(auto_commit, lab=lab, event_id=event_id)
    assert not automatic.solved and "committed before any rebalance" in automatic.message, automatic.message


# -- 10: a table from a keyed changelog -----------------------------------------------------------------------
def first_status_without_tombstones(config: dict[str, Any], topic: str) -> dict[str, Any]:
    consumer = Consumer({**config, "auto.offset.reset": "earliest", "enable.partition.eof": True})
    consumer.subscribe([topic])
    table: dict[str, Any] = {}
    ended: set[int] = set()
    while len(ended) < 3:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            ended.add(message.partition() or 0)
            continue
        table.setdefault((message.key() or b"").decode(), message.value())
    consumer.close()
    return table


@pytest.mark.integration
def test_latest_statuses_are_checked_against_the_changelog(lab: Lab, event_id: int) -> None:
    check = keys.latest_statuses.evaluate
    right = check(keys.latest_statuses.reference, lab=lab, event_id=event_id)
    assert right.solved and "b-5 CANCELLED" in right.message, right.message
    first = check(first_status_without_tombstones, lab=lab, event_id=event_id)
    assert not first.solved and "tombstone" in first.message and "the first status" in first.message, first.message


# -- 05: lag by hand ------------------------------------------------------------------------------------------
def lag_ignoring_no_commit(config: dict[str, Any], topic: str) -> dict[int, int]:
    consumer = Consumer(config)
    committed = consumer.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
    lags = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] - tp.offset for tp in committed}
    consumer.close()
    return lags


@pytest.mark.integration
def test_lag_by_hand_is_checked_against_committed_offsets(lab: Lab, event_id: int) -> None:
    check = lag_code.lag_by_hand.evaluate
    right = check(lag_code.lag_by_hand.reference, lab=lab, event_id=event_id)
    assert right.solved, right.message
    naive = check(lag_ignoring_no_commit, lab=lab, event_id=event_id)
    assert not naive.solved and "OFFSET_INVALID" in naive.message, naive.message


# -- 11: a handler slower than max.poll.interval.ms -----------------------------------------------------------
def consume_with_a_longer_limit(config: dict[str, Any], topic: str, process: Any) -> None:
    auto_commit({**config, "max.poll.interval.ms": 60000}, topic, process)  # the first fix, not the one asked for


@pytest.mark.integration
def test_a_slow_handler_keeps_its_consumer_in_the_group_or_is_named(lab: Lab, event_id: int) -> None:
    check = slow_work.slow_handler.evaluate
    right = check(slow_work.slow_handler.reference, lab=lab, event_id=event_id)
    assert right.solved, right.message
    inline = check(consumer_loop.commit_after_processing.reference, lab=lab, event_id=event_id)
    assert not inline.solved and "took it out of the group" in inline.message, inline.message
    patient = check(consume_with_a_longer_limit, lab=lab, event_id=event_id)
    assert not patient.solved and "leave max.poll.interval.ms as config sets it" in patient.message


# -- 14: a share consumer that rejects what it cannot read ----------------------------------------------------
def acknowledge_by_decoding(consumer: Any, message: Any, accepted: list[Any], failed: AcknowledgeType) -> None:
    """ACCEPT a record that decodes (kept in `accepted`), `failed` one that does not."""
    try:
        accepted.append(decode(message.value(), ReserveSeats))
        consumer.acknowledge(message, AcknowledgeType.ACCEPT)
    except MessageError:
        consumer.acknowledge(message, failed)


def accept_until(config: dict[str, Any], topic: str, wanted: int, failed: AcknowledgeType) -> list[Any]:
    """Polls until `wanted` requests are accepted, acknowledging a malformed record with `failed`."""
    consumer = ShareConsumer({**config, "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([topic])
    accepted: list[Any] = []
    try:
        while len(accepted) < wanted:
            for message in consumer.poll(1.0):
                acknowledge_by_decoding(consumer, message, accepted, failed)
    finally:
        consumer.close()
    return accepted


def release_what_fails(config: dict[str, Any], topic: str, count: int) -> list[Any]:
    """Releases a malformed record instead of rejecting it: it comes back (until the brokers' delivery limit)."""
    return accept_until(config, topic, count - len(share_work.MALFORMED), AcknowledgeType.RELEASE)


def accept_by_default(config: dict[str, Any], topic: str, count: int) -> list[Any]:
    """Implicit mode (the default): every record a poll() returned is accepted, the malformed ones too."""
    consumer = ShareConsumer(config)
    consumer.subscribe([topic])
    accepted: list[Any] = []
    seen = 0
    try:
        while seen < count:
            for message in consumer.poll(1.0):
                seen += 1
                with contextlib.suppress(MessageError):
                    accepted.append(decode(message.value(), ReserveSeats))
    finally:
        consumer.close()
    return accepted


def acknowledge_without_commit(config: dict[str, Any], topic: str, count: int) -> list[Any]:
    """Acknowledges every record but neither commits nor closes: the acknowledgements never leave the client, and
    the records come back when their lock runs out (the check closes the consumer afterwards)."""
    consumer = ShareConsumer({**config, "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([topic])
    accepted: list[Any] = []
    acknowledged = 0
    while acknowledged < count:
        for message in consumer.poll(1.0):
            acknowledge_by_decoding(consumer, message, accepted, AcknowledgeType.REJECT)
            acknowledged += 1
    return accepted


def count_only_the_accepted(config: dict[str, Any], topic: str, count: int) -> list[Any]:
    """Waits for `count` accepted requests, and there are fewer: it would poll for ever."""
    return accept_until(config, topic, count, AcknowledgeType.REJECT)


def fail_before_joining(config: dict[str, Any], topic: str, count: int) -> list[Any]:
    raise ValueError(f"no consumer for {topic}")


@pytest.mark.integration
def test_a_share_consumer_is_checked_by_its_acknowledgements_and_what_comes_back(
    lab: Lab, event_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = share_work.rejecting_worker.evaluate
    right = check(share_work.rejecting_worker.reference, lab=lab, event_id=event_id)
    assert right.solved, right.message
    releasing = check(release_what_fails, lab=lab, event_id=event_id)
    assert not releasing.solved and "{2: 'RELEASE', 5: 'RELEASE'" in releasing.message, releasing.message
    implicit = check(accept_by_default, lab=lab, event_id=event_id)
    assert not implicit.solved and "ran in implicit acknowledgement mode" in implicit.message, implicit.message
    uncommitted = check(acknowledge_without_commit, lab=lab, event_id=event_id)
    assert not uncommitted.solved and "never reached the brokers" in uncommitted.message, uncommitted.message
    failing = check(fail_before_joining, lab=lab, event_id=event_id)
    assert not failing.solved and "raised ValueError: no consumer for" in failing.message, failing.message
    monkeypatch.setattr(share_work, "ANSWER_SECONDS", 3)
    endless = check(count_only_the_accepted, lab=lab, event_id=event_id)
    assert not endless.solved and "still polling after 3 s" in endless.message, endless.message
    assert confluent_kafka.ShareConsumer is ShareConsumer and globals()["ShareConsumer"] is ShareConsumer


# -- 15: seats sold per section per minute, with quixstreams ---------------------------------------------------
def every_delivery_counted(app: Any, topic: Any) -> Any:
    sdf = app.dataframe(topic).group_by("section").apply(lambda reply: len(reply["seats"]))
    return sdf.tumbling_window(duration_ms=60_000).sum().current()


def windows_per_booking(app: Any, topic: Any) -> Any:
    sdf = app.dataframe(topic).apply(lambda reply: len(reply["seats"]))
    return sdf.tumbling_window(duration_ms=60_000).sum().current()


def seen_per_section(app: Any, topic: Any) -> Any:
    def first_delivery(reply: dict[str, Any], state: Any) -> bool:
        seen = state.exists("seen")
        state.set("seen", True)
        return not seen

    sdf = app.dataframe(topic).group_by("section").filter(first_delivery, stateful=True)
    return sdf.apply(lambda reply: len(reply["seats"])).tumbling_window(duration_ms=60_000).sum().current()


def only_closed_windows(app: Any, topic: Any) -> Any:
    sdf = app.dataframe(topic).group_by("section").apply(lambda reply: len(reply["seats"]))
    return sdf.tumbling_window(duration_ms=60_000).sum().final()


@pytest.mark.integration
def test_windows_of_seats_sold_are_checked_against_the_replies_written(lab: Lab, event_id: int) -> None:
    check = stream_windows.sales_per_minute.evaluate
    right = check(stream_windows.sales_per_minute.reference, lab=lab, event_id=event_id)
    assert right.solved and "12 windows of a minute" in right.message, right.message
    doubled = check(every_delivery_counted, lab=lab, event_id=event_id)
    assert not doubled.solved and "delivered twice" in doubled.message, doubled.message
    per_booking = check(windows_per_booking, lab=lab, event_id=event_id)
    assert not per_booking.solved and "group_by('section')" in per_booking.message, per_booking.message
    final = check(only_closed_windows, lab=lab, event_id=event_id)
    assert not final.solved and "Use `.current()`" in final.message, final.message
    too_few = check(seen_per_section, lab=lab, event_id=event_id)
    assert not too_few.solved and "filter by booking before group_by" in too_few.message, too_few.message

    def internal_topics_left() -> list[str]:
        topics = lab.admin.client.list_topics(timeout=10).topics
        return [t for t in topics if t.startswith(("changelog__", "repartition__")) and f"event-id-{event_id}_" in t]

    wait_until(lambda: not internal_topics_left(), 30, "the checks' changelog and repartition topics to be deleted")
