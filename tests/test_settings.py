import os
import socket
from pathlib import Path

import pytest

from labkit import Settings
from labkit.errors import ConfigError
from labkit.kafka.worker import group_config

pytestmark = pytest.mark.unit


def test_defaults_follow_the_spec() -> None:
    settings = Settings.from_env({})
    assert settings.event_id == 1
    assert settings.kafka_bootstrap_servers is None and not settings.external
    assert settings.consumer_instance_id == f"consumer-{socket.gethostname()}-{os.getpid()}"
    assert settings.producer_instance_id == f"producer-{os.getpid()}"
    assert settings.group_protocol == "consumer"  # KIP-848, Kafka 4's protocol for new groups


def test_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "EVENT_ID": "7",
            "KAFKA_BOOTSTRAP_SERVERS": "localhost:9092, kafka2:29092",
            "REDIS_URL": "redis://127.0.0.1:6666/0",
            "KAFKA_CONSUMER_INSTANCE_ID": "consumer-a",
            "KAFKA_PRODUCER_INSTANCE_ID": "producer-b",
            "LABKIT_HOME": "/tmp/labkit-x",
        }
    )
    assert settings.event_id == 7
    assert settings.kafka_bootstrap_servers == "localhost:9092,kafka2:29092" and settings.external
    assert settings.redis_url == "redis://127.0.0.1:6666/0"
    assert (settings.consumer_instance_id, settings.producer_instance_id) == ("consumer-a", "producer-b")
    assert settings.home == Path("/tmp/labkit-x")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENT_ID", "abc"),
        ("EVENT_ID", "0"),
        ("EVENT_ID", "-2"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost"),
        ("KAFKA_BOOTSTRAP_SERVERS", "a:1,,b:2"),
        ("REDIS_URL", "localhost:6379"),
        ("KAFKA_CONSUMER_INSTANCE_ID", "has space"),
        ("LABKIT_GROUP_PROTOCOL", "cooperative"),
    ],
)
def test_a_malformed_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(("value", "protocol"), [("classic", "classic"), (" Consumer ", "consumer")])
def test_the_group_protocol_is_one_setting_away(value: str, protocol: str) -> None:
    assert Settings.from_env({"LABKIT_GROUP_PROTOCOL": value}).group_protocol == protocol


def test_group_settings_per_protocol() -> None:
    consumer = group_config("consumer", "range")
    assert consumer == {"group.protocol": "consumer", "group.remote.assignor": "range"}
    assert group_config("consumer", "cooperative-sticky")["group.remote.assignor"] == "uniform"
    classic = group_config("classic", "range")
    assert classic["partition.assignment.strategy"] == "range" and classic["group.protocol"] == "classic"
    with pytest.raises(ValueError, match="group_protocol must be"):
        group_config("eager", "range")
    with pytest.raises(ValueError, match="assignor must be one of"):
        group_config("consumer", "roundrobin")
