"""The composition root: the clients and stores labkit runs on, built once from Settings and handed to whoever
needs them (a Lab, a consumer process, a CLI command, the dashboard).

    with Runtime.connect(Settings.from_env()) as runtime:
        worker, producer = build_worker("seat-reservation", runtime, event_id=1, instance_id="consumer-1")

Everything here is built in this one place: the resolved addresses, the Redis client and what reads and writes
through it (BookingStore, SeatInventory), the admin client with its retry policy, the board that wakes bookings'
waiters in this process, and the settings with their tuning values. Producers and consumers are not: each
worker has its own, made by `labkit.services.workers.build_worker`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property
from types import TracebackType

import redis

from labkit.cluster.endpoints import kafka_bootstrap, redis_url
from labkit.domain.booking import OutcomeBoard
from labkit.errors import ClusterError
from labkit.kafka.admin import Admin, AdminRetry, broker_configs
from labkit.settings import Settings, Tuning
from labkit.store.bookings import BookingStore
from labkit.store.client import connect_redis
from labkit.store.inventory import SeatInventory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """The resolved cluster and the clients on it; `close()` (or `with`) releases them. The group protocol and
    the tuning values are the settings' (`settings.group_protocol`, `settings.tuning`)."""

    settings: Settings
    bootstrap_servers: str
    redis_url: str
    redis: redis.Redis
    admin: Admin
    store: BookingStore
    inventory: SeatInventory  # one per runtime: it caches the loaded Lua script and each event's venue
    board: OutcomeBoard

    @classmethod
    def connect(cls, settings: Settings) -> Runtime:
        """Resolve where Kafka and Redis are (ClusterError if the embedded cluster does not run; ConfigError for
        an external Kafka without REDIS_URL) and build the clients. Nothing connects until it is first used."""
        bootstrap, url, tuning = kafka_bootstrap(settings), redis_url(settings), settings.tuning
        client = connect_redis(url, socket_timeout=tuning.redis_socket_timeout)
        return cls(
            settings=settings,
            bootstrap_servers=bootstrap,
            redis_url=url,
            redis=client,
            admin=Admin(bootstrap, AdminRetry(total=tuning.admin_timeout, attempt=tuning.admin_attempt_timeout)),
            store=BookingStore(client),
            inventory=SeatInventory(client),
            board=OutcomeBoard(),
        )

    @cached_property
    def tuning(self) -> Tuning:
        """The settings' tuning, with the classic groups' session timeout raised to the cluster's minimum when the
        cluster admits no shorter one (group.min.session.timeout.ms: Kafka's default, 6 s, is above labkit's
        2.5 s, and a JoinGroup asking for less is refused with INVALID_SESSION_TIMEOUT). Asked once."""
        tuning = self.settings.tuning
        try:
            minimum = int(broker_configs(self.admin).get("group.min.session.timeout.ms", 0))
        except ClusterError as error:  # a user the cluster does not let read broker configs: labkit's values
            log.warning(
                "cannot read the cluster's group.min.session.timeout.ms (%s): asking for %d ms",
                error,
                tuning.classic_session_timeout_ms,
            )
            return tuning
        if minimum <= tuning.classic_session_timeout_ms:
            return tuning
        return replace(tuning, classic_session_timeout_ms=minimum, classic_heartbeat_interval_ms=minimum // 5)

    def close(self) -> None:
        self.admin.close()
        self.redis.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
