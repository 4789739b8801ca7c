"""Client configuration shared by every labkit producer, consumer and admin client."""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from labkit.errors import ClusterError

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


_ADMINS: dict[tuple[str, str], AdminClient] = {}
_RETIRED: list[AdminClient] = []  # replaced by renew_admin_client; kept, never destroyed (see admin_client)
_KEYS: dict[int, tuple[str, str]] = {}  # id of every client made here (all kept alive) → its registry key
_ADMINS_LOCK = threading.Lock()


def admin_client(bootstrap_servers: str, client_id: str = "labkit-admin", timeout: float = 10.0) -> AdminClient:
    """The process's admin client for this cluster, created once, warmed up, and kept.

    Kept, because destroying an admin client while one of its requests is still in flight (a timed-out call)
    aborted the whole process here: librdkafka's assertion `eonce->refcnt > 0` in
    rd_kafka_enq_once_del_source_return. Warmed up, because librdkafka ≥ 2.10 drops its bootstrap connections
    once it learns the brokers' ids, and a request sent before that fails with _DESTROY_BROKER.
    """
    key = (bootstrap_servers, client_id)
    with _ADMINS_LOCK:
        admin = _ADMINS.get(key)
        if admin is None:
            admin = AdminClient(base_config(bootstrap_servers, client_id))
            try:
                admin.list_topics(timeout=timeout)
            except KafkaException as exc:
                raise ClusterError(f"cannot reach Kafka at {bootstrap_servers}: {exc.args[0]}") from exc
            _ADMINS[key] = admin
            _KEYS[id(admin)] = key
        return admin


def current_admin_client(admin: AdminClient) -> AdminClient:
    """The client that replaced `admin` (renew_admin_client), or `admin` itself."""
    with _ADMINS_LOCK:
        key = _KEYS.get(id(admin))
        return _ADMINS.get(key, admin) if key is not None else admin


def renew_admin_client(stale: AdminClient, timeout: float = 10.0) -> AdminClient:
    """A fresh admin client in place of `stale` (one that left a request unanswered), which is kept alive: it
    may still have that request in flight. Returns `stale` itself if it is not one of the process's clients."""
    with _ADMINS_LOCK:
        key = _KEYS.get(id(stale))
        if key is None:
            return stale
        current = _ADMINS.get(key)
        if current is not None and current is not stale:
            return current  # another caller renewed it already
        _RETIRED.append(stale)
        _ADMINS.pop(key, None)
    return admin_client(*key, timeout=timeout)


def release_admin_clients(bootstrap_servers: str) -> None:
    """Let go of this cluster's admin clients (when the cluster is stopped and nothing waits on them)."""
    with _ADMINS_LOCK:
        for key in [k for k in _ADMINS if k[0] == bootstrap_servers]:
            # kept, not destroyed: a request abandoned after ATTEMPT_TIMEOUT (labkit.kafka.admin) may still be in
            # flight, and destroying its client then aborts the process (see admin_client)
            _RETIRED.append(_ADMINS.pop(key))
