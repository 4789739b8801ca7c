"""Client configuration shared by every labkit producer, consumer and admin client."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# librdkafka writes its own log lines to stderr unless given a logger; route them through logging instead.
# Errors included: while a broker is down (on purpose, in a fault experiment) every client logs "Connect to …
# failed: Connection refused" on each retry, and Python's last-resort handler would print them all to stderr.
# The NullHandler stops that; they still reach any handler the application configures (logging.basicConfig).
KAFKA_LOG = logging.getLogger("labkit.kafka.librdkafka")
KAFKA_LOG.setLevel(logging.ERROR)  # its warnings are retries it handles itself; lower this level to see them
KAFKA_LOG.addHandler(logging.NullHandler())
# LABKIT_KAFKA_DEBUG=cgrp,topic (librdkafka's `debug` contexts) gives every client of this process those debug
# logs, at DEBUG on KAFKA_LOG: how a stuck consumer group was traced (docs/faults.md).
DEBUG_VAR = "LABKIT_KAFKA_DEBUG"


# The connection settings (TLS, SASL: KAFKA_CLIENT_CONFIG) of each cluster this process talks to, by its
# bootstrap list. labkit passes a cluster around as its bootstrap string; every client built for that string,
# by base_config or by `connection_config`, gets the cluster's settings with it.
_CONNECTIONS: dict[str, dict[str, str]] = {}
_SOURCES: dict[str, Path] = {}  # the KAFKA_CLIENT_CONFIG file each came from, for child processes
_CONNECTIONS_LOCK = threading.Lock()


def use_connection(bootstrap_servers: str, properties: Mapping[str, str], source: Path | None = None) -> None:
    """Every later client for `bootstrap_servers` connects with `properties` (librdkafka's names), read from
    `source` (a child process is given that file)."""
    with _CONNECTIONS_LOCK:
        _CONNECTIONS[bootstrap_servers] = dict(properties)
        if source is not None:
            _SOURCES[bootstrap_servers] = source


def connection_source(bootstrap_servers: str) -> Path | None:
    """The KAFKA_CLIENT_CONFIG file of the cluster at `bootstrap_servers`, if it was given one."""
    with _CONNECTIONS_LOCK:
        return _SOURCES.get(bootstrap_servers)


def connection_config(bootstrap_servers: str) -> dict[str, str]:
    """bootstrap.servers and the cluster's connection settings: the start of any client's config."""
    with _CONNECTIONS_LOCK:
        return {"bootstrap.servers": bootstrap_servers, **_CONNECTIONS.get(bootstrap_servers, {})}


def base_config(bootstrap_servers: str, client_id: str, **overrides: Any) -> dict[str, Any]:
    """bootstrap + connection settings + client.id + logging; `overrides` use librdkafka's dotted names with `_`
    for `.`."""
    config: dict[str, Any] = {
        **connection_config(bootstrap_servers),
        "client.id": client_id,
        "logger": KAFKA_LOG,
        "broker.address.family": "v4",
        # TCP_NODELAY, as Kafka's Java clients always set: with Nagle on, a small request can wait for the
        # previous one's (delayed) TCP acknowledgement.
        "socket.nagle.disable": True,
    }
    if debug := os.environ.get(DEBUG_VAR):
        config["debug"] = debug
        KAFKA_LOG.setLevel(logging.DEBUG)
    config.update({key.replace("_", "."): value for key, value in overrides.items()})
    return config
