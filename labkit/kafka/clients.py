"""Client configuration shared by every labkit producer, consumer and admin client."""

from __future__ import annotations

import logging
from typing import Any

# librdkafka writes its own log lines to stderr unless given a logger; route them through logging instead.
# Errors included: while a broker is down (on purpose, in a fault experiment) every client logs "Connect to …
# failed: Connection refused" on each retry, and Python's last-resort handler would print them all to stderr.
# The NullHandler stops that; they still reach any handler the application configures (logging.basicConfig).
KAFKA_LOG = logging.getLogger("labkit.kafka.librdkafka")
KAFKA_LOG.setLevel(logging.ERROR)  # its warnings are retries it handles itself; lower this level to see them
KAFKA_LOG.addHandler(logging.NullHandler())


def base_config(bootstrap_servers: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    """bootstrap + client.id + logging; `overrides` use librdkafka's dotted names with `_` for `.`."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "logger": KAFKA_LOG,
        "broker.address.family": "v4",
        # TCP_NODELAY, as Kafka's Java clients always set: with Nagle on, a small request can wait for the
        # previous one's (delayed) TCP acknowledgement.
        "socket.nagle.disable": True,
    }
    config.update({key.replace("_", "."): value for key, value in overrides.items()})
    return config
