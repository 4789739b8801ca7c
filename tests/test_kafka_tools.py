"""Apache Kafka's own tools through `labkit kafka`: they agree with labkit's views and feed the real pipeline."""

from __future__ import annotations

import re

import pytest

from labkit import KafkaConsumerGroupBuilder, KafkaTopicBuilder, Lab, Settings
from labkit.cluster.tools import TOOLS, run_tool, tool, with_address
from labkit.domain.messages import DeadLetter
from labkit.errors import ConfigError
from labkit.experiments.load import wait_all
from labkit.kafka.groups import describe_group
from tests.helpers import SMALL_VENUE, read_all

BOOTSTRAP = "127.0.0.1:9092,127.0.0.1:9093"


@pytest.mark.unit
def test_an_unknown_tool_is_named_with_the_ones_that_exist() -> None:
    with pytest.raises(ConfigError, match=r"no Kafka tool 'kafka-nope'; the tools are: .*kafka-consumer-groups"):
        tool("kafka-nope")
    assert tool("kafka-topics.sh") is TOOLS["kafka-topics"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("kafka-topics", ["--list"], ["--bootstrap-server", BOOTSTRAP, "--list"]),
        ("kafka-topics", ["--list", "--bootstrap-server", "h:1"], ["--list", "--bootstrap-server", "h:1"]),
        ("kafka-topics", ["--bootstrap-server=h:1", "--list"], ["--bootstrap-server=h:1", "--list"]),
        ("kafka-metadata-quorum", ["--bootstrap-controller", "h:1", "describe"], None),
        ("kafka-topics", ["--help"], None),
        ("kafka-dump-log", ["--files", "/data/t-0/00000000000000000000.log"], None),  # reads files, not brokers
        ("kafka-e2e-latency", ["t", "10", "all", "100"], [BOOTSTRAP, "t", "10", "all", "100"]),
        ("kafka-e2e-latency", ["h:1", "t", "10", "all", "100"], None),
        (
            "kafka-producer-perf-test",
            ["--topic", "t"],
            ["--topic", "t", "--producer-props", f"bootstrap.servers={BOOTSTRAP}"],
        ),
        (
            "kafka-producer-perf-test",
            ["--producer-props", "acks=all", "--topic", "t"],
            ["--producer-props", f"bootstrap.servers={BOOTSTRAP}", "acks=all", "--topic", "t"],
        ),
    ],
)
def test_the_address_is_filled_in_only_where_the_command_gives_none(
    name: str, args: list[str], expected: list[str] | None
) -> None:
    assert with_address(tool(name), args, BOOTSTRAP) == (args if expected is None else expected)


@pytest.mark.integration
def test_kafka_topics_describe_agrees_with_labkit(lab: Lab, settings: Settings, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    result = run_tool("kafka-topics", ["--describe", "--topic", topic], settings)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "Partition:" in line]
    replication = int(re.search(r"ReplicationFactor: (\d+)", result.stdout).group(1))  # type: ignore[union-attr]
    ours = lab.partitions(event_id).query("topic == @topic")
    assert len(rows) == len(ours) == 4  # SMALL_VENUE: one partition per subsection
    assert {replication} == set(ours.replicas.map(len)) == {3}
    leaders = {int(re.search(r"Partition: (\d+)\s+Leader: (\d+)", row).group(1)): row for row in rows}  # type: ignore[union-attr]
    assert sorted(leaders) == sorted(ours.partition)


@pytest.mark.integration
def test_kafka_consumer_groups_lag_agrees_with_labkit(lab: Lab, settings: Settings, event_id: int) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    lab.wait_for_consumers(60)
    served = [lab.book(event_id, section, subsection, quantity=1) for section in "AB" for subsection in (1, 2)]
    assert wait_all(lab, event_id, [b.booking_id for b in served], timeout=60) == 0  # every partition committed
    lab.stop_consumers()
    for _ in range(3):  # waiting: nobody consumes them
        lab.book(event_id, "A", 1, quantity=1)
    group = KafkaConsumerGroupBuilder.seat_reservation_service(event_id)
    result = run_tool("kafka-consumer-groups", ["--describe", "--group", group], settings)
    assert result.returncode == 0, result.stderr
    header, *rows = [line.split() for line in result.stdout.splitlines() if line.strip().startswith(("GROUP", group))]
    lags = [int(row[header.index("LAG")]) for row in rows]
    assert sum(lags) == describe_group(lab.admin, group).total_lag == 3


@pytest.mark.integration
def test_a_malformed_record_from_the_console_producer_is_dead_lettered(
    lab: Lab, settings: Settings, event_id: int
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    result = run_tool("kafka-console-producer", ["--topic", topic], settings, input='{"booking_id": 42}\n')
    assert result.returncode == 0, result.stderr
    (parked,) = read_all(settings, KafkaTopicBuilder.dead_letter__services_to_operator(event_id), 1)
    assert isinstance(parked, DeadLetter) and parked.service == "seat-reservation-service"
    assert parked.original_value == b'{"booking_id": 42}' and parked.reason
    assert lab.book(event_id, "B", 2, quantity=2).wait(timeout=30).status == "RESERVED"  # still serving
    assert all(lab.consumers().alive)
