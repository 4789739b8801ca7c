"""Topics an experiment makes for itself, with the configs it studies (`min.insync.replicas`, `retention.ms`, …).

Notebooks 06 and 08 name them by the spec's pattern under their own event (`naming.topic_name(event_id, …)`),
so that deleting the event deletes them too. `leaders` places each partition's first replica, its preferred
leader, on a chosen broker: an experiment that kills that broker knows it kills the leader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from labkit.checks import is_int
from labkit.domain.naming import topic_name
from labkit.errors import ConfigError
from labkit.kafka.admin import Admin
from labkit.kafka.topics import broker_ids, wait_for_leaders


def create_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int = 1,
    config: Mapping[str, str] | None = None,
    leaders: Sequence[int] | None = None,
) -> None:
    """Create `name` with replication min(3, live brokers) and `config`; with `leaders`, partition i's preferred
    leader is broker `leaders[i % len(leaders)]` (the other replicas follow in id order). Returns once every
    partition has a leader."""
    if not is_int(partitions) or partitions < 1:
        raise ConfigError(f"partitions must be a positive integer, got {partitions!r}")
    with Admin(bootstrap_servers) as admin:
        _create_topic(admin, name, partitions, config, leaders)


def _create_topic(
    admin: Admin, name: str, partitions: int, config: Mapping[str, str] | None, leaders: Sequence[int] | None
) -> None:
    brokers = sorted(broker_ids(admin))
    if leaders is not None and (not leaders or not set(leaders) <= set(brokers)):
        raise ConfigError(f"leaders must be live brokers, among {brokers}; got {leaders!r}")
    replication = min(3, len(brokers))
    settings = {k: str(v) for k, v in (config or {}).items()}
    if leaders is None:
        topic = NewTopic(name, partitions, replication, config=settings)
    else:
        chosen = [leaders[i % len(leaders)] for i in range(partitions)]
        replicas = [[first, *[b for b in brokers if b != first]][:replication] for first in chosen]
        topic = NewTopic(name, partitions, replica_assignment=replicas, config=settings)
    admin.result(admin.client.create_topics([topic], operation_timeout=admin.timeout)[name], f"creating topic {name}")
    wait_for_leaders(admin, {name: partitions})


def topic_config(bootstrap_servers: str, name: str) -> dict[str, str]:
    """The topic's effective configs (its own, else the brokers' defaults), as kafka-configs --describe --all."""
    return _describe_configs(bootstrap_servers, ConfigResource(ResourceType.TOPIC, name))


def set_topic_config(bootstrap_servers: str, name: str, config: Mapping[str, str]) -> None:
    """Set these configs of the topic and leave the others (an incremental alter, as kafka-configs --add-config)."""
    entries = [ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET) for k, v in config.items()]
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
    with Admin(bootstrap_servers) as admin:
        admin.result(admin.client.incremental_alter_configs([resource])[resource], f"setting {dict(config)} on {name}")


def broker_config(bootstrap_servers: str, broker: int) -> dict[str, str]:
    """One broker's effective configs (say, `log.retention.check.interval.ms`)."""
    return _describe_configs(bootstrap_servers, ConfigResource(ResourceType.BROKER, str(broker)))


def _describe_configs(bootstrap_servers: str, resource: ConfigResource) -> dict[str, str]:
    with Admin(bootstrap_servers) as admin:
        entries = admin.result(
            admin.client.describe_configs([resource])[resource], f"describing the configs of {resource}"
        )
    return {key: entry.value for key, entry in entries.items()}


def experiment_topic(event_id: int, action: str) -> str:
    """A topic of an experiment on `event_id`, named by the spec's pattern (`event-id-N______<action>______
    notebook___to___notebook`): deleting the event (`teardown_event`) deletes it with the event's own."""
    return topic_name(event_id, action, "notebook", "notebook")
