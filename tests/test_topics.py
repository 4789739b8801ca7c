"""Experiment topics: placed leaders, configs read and set, and deleted with their event."""

from __future__ import annotations

import pytest

from labkit import Lab
from labkit.domain.naming import group_name
from labkit.experiments.reading import GroupReader
from labkit.experiments.scratch_topics import (
    broker_config,
    create_topic,
    experiment_topic,
    set_topic_config,
    topic_config,
)
from labkit.kafka.admin import Admin
from labkit.kafka.topics import describe_partitions, list_topics
from labkit.polling import wait_until
from labkit.settings import Settings
from tests.helpers import SMALL_VENUE

pytestmark = pytest.mark.integration


def test_leaders_are_placed_and_configs_read_and_set(settings: Settings, admin: Admin, event_id: int) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    topic = experiment_topic(event_id, "placed")
    assert topic == f"event-id-{event_id}______placed______notebook___to___notebook"
    create_topic(bootstrap, topic, partitions=4, config={"retention.ms": "60000"}, leaders=[3, 1])
    partitions = describe_partitions(admin, [topic])
    assert [p.replicas[0] for p in sorted(partitions, key=lambda p: p.partition)] == [3, 1, 3, 1]
    assert all(len(p.replicas) == 3 for p in partitions)
    assert topic_config(bootstrap, topic)["retention.ms"] == "60000"
    set_topic_config(bootstrap, topic, {"min.insync.replicas": "3"})
    # the broker that answers the describe may apply the change a moment after the controller committed it
    wait_until(lambda: topic_config(bootstrap, topic)["min.insync.replicas"] == "3", 30, "the new config")
    config = topic_config(bootstrap, topic)
    assert (config["min.insync.replicas"], config["retention.ms"]) == ("3", "60000")  # the others stay
    assert broker_config(bootstrap, 1)["log.retention.check.interval.ms"] == "5000"
    with pytest.raises(ValueError, match="leaders must be live brokers"):
        create_topic(bootstrap, experiment_topic(event_id, "nowhere"), leaders=[7])
    with pytest.raises(ValueError, match="partitions"):
        create_topic(bootstrap, experiment_topic(event_id, "none"), partitions=0)


def test_an_events_experiment_topics_and_groups_are_deleted_with_it(lab: Lab, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    topic = experiment_topic(event_id, "scratch")
    create_topic(lab.bootstrap_servers, topic)
    reader = GroupReader(lab.bootstrap_servers, topic, group_name(event_id, "scratch-reader"), "earliest")
    reader.catch_up()
    reader.close()
    assert lab.events().query("event_id == @event_id").groups.iloc[0] == 1  # its services never consumed
    deletion = lab.teardown_event(event_id)
    assert topic in deletion.topics and group_name(event_id, "scratch-reader") in deletion.groups
    assert topic not in list_topics(lab.admin)
    assert event_id not in set(lab.events().event_id)
