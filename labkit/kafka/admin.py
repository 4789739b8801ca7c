"""The admin client labkit's calls share, its retry policy, and what a failed request's error says."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, ResourceType

from labkit.errors import ClusterError, ConfigError
from labkit.kafka.clients import base_config
from labkit.settings import Tuning

log = logging.getLogger(__name__)

# Admin clients that may still have a request in flight: never destroyed (see Admin). Only ever appended to.
_KEPT_ALIVE: list[AdminClient] = []
_KEPT_ALIVE_LOCK = threading.Lock()


# Errors that retrying cannot mend: the cluster refused the credentials, the certificate or the protocol.
REFUSALS = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}

_COORDINATOR_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.FENCED_LEADER_EPOCH,  # listing offsets while leaders move (notebook 03 in a CI rehearsal)
    KafkaError.UNKNOWN_LEADER_EPOCH,
}


@dataclass(frozen=True)
class AdminRetry:
    """How Admin.request asks again: for up to `total` s in all, every `pause` s while the error is retriable,
    and through a fresh client after `attempt` s without an answer or of the same retriable error.

    Retriable: on a fresh cluster the first group request creates __consumer_offsets, and until it has leaders
    brokers answer NOT_COORDINATOR; right after a broker restart a group's coordinator moves (NOT_COORDINATOR for
    30 s in notebook 07 in CI). A fresh client: after a broker was killed and restarted, a long-lived admin client
    sometimes left group requests unanswered for 30 s (notebook 07) while a new client was answered at once.
    """

    total: float = Tuning.admin_timeout
    attempt: float = Tuning.admin_attempt_timeout
    pause: float = 0.2

    def next_step(self, cause: BaseException | None, failing_for: float) -> str:
        """After a failed attempt: "raise", "again" (the same client) or "renew" (a fresh one). `cause` is the
        Kafka error or TimeoutError behind it; `failing_for` how long the same retriable error has lasted."""
        if unanswered(cause):
            return "renew"
        if not isinstance(cause, KafkaException) or not _retriable(cause.args[0]):
            return "raise"
        return "renew" if failing_for >= self.attempt else "again"


def unanswered(cause: BaseException | None) -> bool:
    """No answer in time: our wait ran out, or librdkafka's own request timeout did."""
    return isinstance(cause, TimeoutError) or (
        isinstance(cause, KafkaException) and cause.args[0].code() == KafkaError._TIMED_OUT
    )


def _retriable(error: KafkaError) -> bool:
    return bool(error.retriable() or error.code() in _COORDINATOR_MOVING)


class Admin:
    """One owner's admin client for one cluster (a Runtime's, or a single call's), with its retry policy.

    The librdkafka client is created on first use and warmed up: librdkafka ≥ 2.10 drops its bootstrap
    connections once it learns the brokers' ids, and a request sent before that fails with _DESTROY_BROKER.
    A client that may still have a request in flight is never destroyed, on renew() or close(): destroying one
    then aborted the whole process here (librdkafka's assertion `eonce->refcnt > 0` in
    rd_kafka_enq_once_del_source_return). Those are kept in `_KEPT_ALIVE`; the others go when closed.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        retry: AdminRetry | None = None,
        client_id: str = "labkit-admin",
        connect_timeout: float = 10.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.retry = retry or AdminRetry()
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self._client: AdminClient | None = None
        self._in_flight = 0  # waits on this Admin's futures going on now (on whichever of its clients)
        self._abandoned = False  # the current client left a request unanswered
        self._lock = threading.Lock()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def timeout(self) -> float:
        """What one admin call may take in all: a request with its retries, or a metadata listing."""
        return self.retry.total

    @property
    def client(self) -> AdminClient:
        with self._lock:
            if self._client is None:
                self._client, self._abandoned = self._connect(), False
            return self._client

    def _connect(self) -> AdminClient:
        """A client that has listed the cluster's metadata. A cluster that refuses the connection's credentials
        or certificate is a ConfigError at the first refusal, naming it; one that does not answer a ClusterError
        after `connect_timeout`."""
        errors: deque[KafkaError] = deque(maxlen=32)
        config = base_config(self.bootstrap_servers, self.client_id)
        config["error_cb"] = errors.append  # served by poll(): the reason behind a failed listing
        client = AdminClient(config)
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                client.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
                return client
            except KafkaException as exc:
                client.poll(0)
                refused = next((e for e in errors if e.code() in REFUSALS), None)
                if refused is not None:
                    with _KEPT_ALIVE_LOCK:  # its listing may still be in flight: never destroyed (see Admin)
                        _KEPT_ALIVE.append(client)
                    raise ConfigError(
                        f"Kafka at {self.bootstrap_servers} refused the connection: {refused.str()} "
                        "(check KAFKA_CLIENT_CONFIG)"
                    ) from None
                if time.monotonic() >= deadline:
                    raise ClusterError(f"cannot reach Kafka at {self.bootstrap_servers}: {exc.args[0]}") from exc

    def metadata(self, topic: str | None = None) -> ClusterMetadata:
        """The cluster's metadata (brokers, topics, partitions), from whichever broker answers."""
        return self.client.list_topics(topic, timeout=self.timeout)

    def result(self, future: Any, what: str, timeout: float | None = None) -> Any:
        """The future's result, or ClusterError naming `what` (its cause the Kafka error or TimeoutError). A wait
        that ends without an answer marks the client as one that must be kept alive."""
        with self._lock:
            self._in_flight += 1
        try:
            return future.result(timeout=self.timeout if timeout is None else timeout)
        except KafkaException as exc:
            self._note_abandoned(exc)
            raise ClusterError(f"{what} failed: {exc.args[0]}") from exc
        except TimeoutError as exc:
            self._note_abandoned(exc)
            raise ClusterError(f"{what} got no answer within {timeout or self.timeout:.0f} s") from exc
        finally:
            with self._lock:
                self._in_flight -= 1

    def request(self, call: Callable[[AdminClient], Any], what: str) -> Any:
        """`call(client)`'s future's result, asked again as `retry` says (see AdminRetry)."""
        deadline = time.monotonic() + self.retry.total
        failing_since: float | None = None
        while True:
            left = deadline - time.monotonic()
            try:
                return self.result(call(self.client), what, timeout=min(self.retry.attempt, max(0.1, left)))
            except ClusterError as exc:
                if time.monotonic() >= deadline:
                    raise
                failing_since = failing_since or time.monotonic()
                step = self.retry.next_step(exc.__cause__, time.monotonic() - failing_since)
                if step == "raise":
                    raise
                if step == "renew":
                    log.info("%s; asking again through a fresh admin client", exc)
                    self.renew()
                    failing_since = None
            time.sleep(self.retry.pause)

    def renew(self) -> None:
        """Put the current client aside (kept alive: it left a request unanswered) for a fresh one."""
        with self._lock:
            if self._client is not None:
                with _KEPT_ALIVE_LOCK:
                    _KEPT_ALIVE.append(self._client)
            self._client = None

    def close(self) -> None:
        """Let go of the client: destroyed if none of its requests can still be in flight, else kept alive."""
        with self._lock:
            if self._client is not None and (self._abandoned or self._in_flight):
                with _KEPT_ALIVE_LOCK:
                    _KEPT_ALIVE.append(self._client)
            self._client = None

    def _note_abandoned(self, cause: BaseException) -> None:
        if unanswered(cause):
            with self._lock:
                self._abandoned = True


def failed_with(error: ClusterError, code: int) -> bool:
    """Whether the Kafka error behind `error` has this code."""
    cause = error.__cause__
    return isinstance(cause, KafkaException) and cause.args[0].code() == code


def broker_configs(admin: Admin, node_id: int | None = None) -> dict[str, str]:
    """The settings broker `node_id` (the lowest id if None) runs with: its own, the cluster's dynamic defaults,
    or Kafka's defaults; those without a value (passwords, unset ones) left out."""
    node_id = min(admin.metadata().brokers) if node_id is None else node_id
    resource = ConfigResource(ResourceType.BROKER, str(node_id))
    found = admin.request(lambda client: client.describe_configs([resource])[resource], f"broker {node_id}'s configs")
    return {name: entry.value for name, entry in found.items() if entry.value is not None}
