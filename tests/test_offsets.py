"""A group's offsets from labkit and from kafka-consumer-groups, which must agree."""

from __future__ import annotations

import pytest

from labkit import Lab
from labkit.domain.naming import group_name
from labkit.experiments.group_offsets import group_offsets, parse_group_table
from labkit.experiments.producer_acks import NumberedWriter
from labkit.experiments.reading import GroupReader
from labkit.experiments.scratch_topics import create_topic, experiment_topic

DESCRIBED = """
Consumer group 'g' has no active members.

GROUP TOPIC PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  CONSUMER-ID  HOST  CLIENT-ID
g     t     1          -               4               -    -            -     -
g     t     0          7               9               2    -            -     -
"""


@pytest.mark.unit
def test_kafka_consumer_groups_tables_are_parsed_with_missing_values_as_none() -> None:
    table = parse_group_table(DESCRIBED)
    assert list(table.PARTITION) == [0, 1]
    assert table["CURRENT-OFFSET"].tolist() == [7, None] or table["CURRENT-OFFSET"].isna().tolist() == [False, True]
    assert table.LAG.iloc[0] == 2 and table["CONSUMER-ID"].iloc[0] is None


@pytest.mark.integration
def test_labkit_and_kafka_consumer_groups_report_the_same_offsets_and_lag(lab: Lab, event_id: int) -> None:
    topic = experiment_topic(event_id, "lagging")
    group = group_name(event_id, "lagging-reader")
    create_topic(lab.bootstrap_servers, topic, partitions=3)
    lab.events_set_up.add(event_id)  # deleted with the event by the lab fixture
    NumberedWriter(lab.bootstrap_servers, topic, "all", 1000, 30).start().join(60)
    reader = GroupReader(lab.bootstrap_servers, topic, group, "earliest")
    reader.catch_up()
    reader.close()
    NumberedWriter(lab.bootstrap_servers, topic, "all", 1000, 12, partition=1).start().join(60)
    ours = group_offsets(lab.bootstrap_servers, group, topic)
    kafkas = parse_group_table(lab.kafka_tool("kafka-consumer-groups", "--describe", "--group", group))
    assert ours.lag.tolist() == [0, 12, 0]
    assert ours.committed.tolist() == kafkas["CURRENT-OFFSET"].tolist()
    assert ours.log_end.tolist() == kafkas["LOG-END-OFFSET"].tolist()
    assert ours.lag.tolist() == kafkas.LAG.tolist()
