"""Client configuration shared by every labkit producer, consumer and admin client."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from labkit.errors import ClusterError

# librdkafka writes its own log lines to stderr unless given a logger; route them through logging instead.
KAFKA_LOG = logging.getLogger("labkit.kafka.librdkafka")
KAFKA_LOG.setLevel(logging.ERROR)  # its warnings are retries it handles itself; lower this level to see them


def base_config(bootstrap_servers: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    """bootstrap + client.id + logging; `overrides` use librdkafka's dotted names with `_` for `.`."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "logger": KAFKA_LOG,
        "broker.address.family": "v4",
    }
    config.update({key.replace("_", "."): value for key, value in overrides.items()})
    return config


def admin_client(bootstrap_servers: str, client_id: str = "labkit-admin", timeout: float = 10.0) -> AdminClient:
    """An admin client that has already fetched the cluster's metadata.

    librdkafka ≥ 2.10 drops its bootstrap connections once it learns the brokers' ids; a request sent before
    that fails with _DESTROY_BROKER. One metadata request first avoids the race.
    """
    admin = AdminClient(base_config(bootstrap_servers, client_id))
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ClusterError(f"cannot reach Kafka at {bootstrap_servers}: {exc.args[0]}") from exc
    return admin
