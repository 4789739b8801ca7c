"""Share groups' helpers that need no cluster: Kafka's tool's assignments read, and the check's watched consumer
put back in place whatever the learner's function does."""

from __future__ import annotations

import confluent_kafka
import pytest
from confluent_kafka import ShareConsumer

from labkit.errors import StateError
from labkit.exercises.share_watch import CheckDeadline, watching
from labkit.experiments.cluster_needs import _share_groups
from labkit.experiments.share_groups import _assignment

pytestmark = pytest.mark.unit


def test_an_assignment_of_several_topics_and_partitions_is_read_partition_by_partition() -> None:
    assert _assignment("orders:0,1;payments:2") == ("orders:0", "orders:1", "payments:2")
    assert _assignment("event-id-1______a______b___to___c:0") == ("event-id-1______a______b___to___c:0",)
    assert _assignment("") == ()


def _builds_a_consumer_then_fails(config: dict[str, str]) -> object:
    consumer = ShareConsumer(config)
    consumer.close()
    raise RuntimeError("the learner's bug")


def test_the_watched_consumer_notes_its_config_and_is_put_back_after_an_error() -> None:
    real = confluent_kafka.ShareConsumer
    config = {"group.id": "g", "bootstrap.servers": "127.0.0.1:1", "share.acknowledgement.mode": "EXPLICIT"}
    with pytest.raises(RuntimeError, match="the learner's bug"), watching(_builds_a_consumer_then_fails, 5) as watch:
        assert globals()["ShareConsumer"] is not real and confluent_kafka.ShareConsumer is not real
        _builds_a_consumer_then_fails(config)
    assert watch.modes == ["explicit"] and len(watch.consumers) == 1
    assert globals()["ShareConsumer"] is real and confluent_kafka.ShareConsumer is real


def _polls_for_ever(config: dict[str, str]) -> None:
    consumer = ShareConsumer(config)
    consumer.subscribe(["nothing-comes"])
    try:
        while True:
            consumer.poll(0.1)
    finally:
        consumer.close()


def test_a_loop_that_never_ends_is_ended_at_its_poll_after_the_deadline() -> None:
    config = {"group.id": "g", "bootstrap.servers": "127.0.0.1:1"}
    with pytest.raises(CheckDeadline), watching(_polls_for_ever, 0.5):
        _polls_for_ever(config)


def test_share_groups_need_as_many_brokers_as_their_state_topic_has_replicas() -> None:
    settings = {"share.coordinator.state.topic.replication.factor": "3", "group.share.delivery.count.limit": "5"}
    assert "archived after 5 deliveries" in _share_groups(settings, alive=3)
    with pytest.raises(StateError, match="share groups need 3 brokers for their state topic"):
        _share_groups(settings, alive=1)
