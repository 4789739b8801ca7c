"""Environment variables → one frozen Settings object, read once and passed around."""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from labkit.checks import parse_event_id
from labkit.client_config import ENV_VAR as CLIENT_CONFIG_VAR
from labkit.client_config import ClientConfig, client_config_from_env
from labkit.errors import ConfigError

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Kafka 4's consumer group protocol (KIP-848, the coordinator assigns) or the classic one (the clients do).
GROUP_PROTOCOLS = ("consumer", "classic")
STOP_WITH_PID = "LABKIT_STOP_WITH_PID"


def project_root() -> Path | None:
    """The labkit checkout this package runs from, or None when installed elsewhere."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "services").is_dir() else None


def default_home() -> Path:
    """Where the embedded cluster keeps its state: `.labkit/` in the checkout, else the user's state dir."""
    root = project_root()
    if root is not None:
        return root / ".labkit"
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "labkit"


@dataclass(frozen=True)
class Tuning:
    """The values labkit's clients were tuned to on this machine, in one place (docs/benchmark.md, "Why these
    settings")."""

    # librdkafka producers behind book(), and behind each seat-reservation consumer's replies. More lanes cut a
    # lone producer's latency, but with the whole booking path running they halved the peak burst and did not
    # lower the latency at a steady load: more requests for the brokers.
    sender_lanes: int = 1
    reply_lanes: int = 1
    # s a partition may stay assigned with messages waiting and none fetched before the worker seeks it to its
    # start offset (labkit.kafka.watchdog)
    unfetched_after: float = 15.0
    # Classic groups: a crashed member's partitions move on after this long without a heartbeat. The brokers'
    # group.min.session.timeout.ms (labkit/cluster/broker.py) admits it.
    classic_session_timeout_ms: int = 2_500
    classic_heartbeat_interval_ms: int = 500
    admin_timeout: float = 30.0  # s an admin request may take in all, retries included (labkit.kafka.admin)
    admin_attempt_timeout: float = 10.0  # s one attempt waits before a fresh admin client asks again
    redis_socket_timeout: float = 30.0  # s a Redis command may take before the client gives up
    # A consumer (labkit.kafka.worker.BatchWorker): up to batch_size messages a poll, a lone one handled at once
    # (poll_timeout), up to max_in_flight batches whose output awaits acknowledgement (ack_timeout each), commits
    # at most every commit_interval s; stopping, it serves its revocation up to leave_timeout s, and its owner
    # gives it stop_timeout s in all (a batch in flight, the final commit and the group leave).
    batch_size: int = 500
    poll_timeout: float = 0.2
    max_in_flight: int = 64
    ack_timeout: float = 30.0
    commit_interval: float = 0.5
    leave_timeout: float = 10.0
    stop_timeout: float = 15.0
    # ms a labkit producer waits to fill a batch: one booking waits at most this long, a burst shares requests
    producer_linger_ms: int = 5


DEFAULT_TUNING = Tuning()


@dataclass(frozen=True)
class Settings:
    """What labkit reads from the environment (the spec's variables plus REDIS_URL, KAFKA_CLIENT_CONFIG,
    LABKIT_HOME, LABKIT_GROUP_PROTOCOL, LABKIT_LEARNER, LABKIT_JAVA_HOME and LABKIT_STOP_WITH_PID), and the tuning
    values.

    `kafka_bootstrap_servers` / `redis_url` are None when unset: labkit then uses its embedded cluster.
    `client_config` is the checked KAFKA_CLIENT_CONFIG file (TLS, SASL) of a cluster labkit did not start.
    """

    event_id: int
    kafka_bootstrap_servers: str | None
    redis_url: str | None
    consumer_instance_id: str
    producer_instance_id: str
    home: Path
    group_protocol: str = "consumer"
    learner: str = "learner"  # whose exercise progress `home`/exercises/<learner>.json keeps (LABKIT_LEARNER)
    java_home: Path | None = None  # LABKIT_JAVA_HOME: another JDK for the brokers and tools (else the pinned one)
    # LABKIT_STOP_WITH_PID: a consumer process stops once this process has exited (ConsumerProcesses sets it)
    stop_with_pid: int | None = None
    client_config: ClientConfig | None = None
    tuning: Tuning = DEFAULT_TUNING

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the environment; a malformed value raises ConfigError naming the variable."""
        env = os.environ if environ is None else environ
        pid = os.getpid()
        client_config = client_config_from_env(env)
        bootstrap = _bootstrap(env.get("KAFKA_BOOTSTRAP_SERVERS"))
        if client_config is not None and bootstrap is None:
            bootstrap = _bootstrap(client_config.bootstrap_servers, f"bootstrap.servers in {client_config.path}")
            if bootstrap is None:
                raise ConfigError(
                    f"{CLIENT_CONFIG_VAR} is for a cluster labkit did not start: set KAFKA_BOOTSTRAP_SERVERS "
                    f"(or bootstrap.servers in {client_config.path})"
                )
        return cls(
            event_id=parse_event_id(env.get("EVENT_ID", "1"), source="EVENT_ID"),
            kafka_bootstrap_servers=bootstrap,
            redis_url=_redis_url(env.get("REDIS_URL")),
            consumer_instance_id=_instance_id(
                env, "KAFKA_CONSUMER_INSTANCE_ID", f"consumer-{socket.gethostname()}-{pid}"
            ),
            producer_instance_id=_instance_id(env, "KAFKA_PRODUCER_INSTANCE_ID", f"producer-{pid}"),
            home=Path(env["LABKIT_HOME"]).expanduser() if env.get("LABKIT_HOME") else default_home(),
            group_protocol=parse_group_protocol(env.get("LABKIT_GROUP_PROTOCOL", "consumer"), "LABKIT_GROUP_PROTOCOL"),
            learner=_instance_id(env, "LABKIT_LEARNER", _login_name()),
            java_home=java_home_from_env(env),
            stop_with_pid=_pid(env.get(STOP_WITH_PID), STOP_WITH_PID),
            client_config=client_config,
        )

    @property
    def external(self) -> bool:
        """True when the environment names a cluster, so labkit must start nothing."""
        return self.kafka_bootstrap_servers is not None


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/labkit` (`~/.cache/labkit`): what labkit keeps for every checkout and home of one user
    (the brokers' AOT cache, the unpacked schema registry)."""
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit"


def java_home_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """LABKIT_JAVA_HOME, for the code that finds Java without a Settings at hand (a LocalCluster, Kafka's tools).
    Not JAVA_HOME: a machine's JAVA_HOME is set for other work, and labkit runs the JDK it pins unless told."""
    value = (os.environ if environ is None else environ).get("LABKIT_JAVA_HOME", "").strip()
    return Path(value) if value else None


def parse_group_protocol(value: object, source: str = "group_protocol") -> str:
    """'consumer' (KIP-848, Kafka 4's default for new groups) or 'classic'."""
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in GROUP_PROTOCOLS:
        raise ConfigError(f"{source} must be one of {GROUP_PROTOCOLS}, got {value!r}")
    return str(text)


def _bootstrap(value: str | None, source: str = "KAFKA_BOOTSTRAP_SERVERS") -> str | None:
    if value is None or not value.strip():
        return None
    servers = [s.strip() for s in value.split(",")]
    bad = [s for s in servers if not _HOST_PORT.match(s)]
    if bad:
        raise ConfigError(f"{source} must be comma-separated host:port pairs, got {value!r} (bad: {bad})")
    return ",".join(servers)


def _redis_url(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if not value.startswith(_REDIS_SCHEMES):
        raise ConfigError(f"REDIS_URL must start with one of {_REDIS_SCHEMES}, got {value!r}")
    return value


def _login_name() -> str:
    """The user's login name, as a file name may hold it ('learner' when there is none, as in some containers)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "learner"
    return re.sub(r"[^A-Za-z0-9._\-]", "_", name)[:64] or "learner"


def _pid(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit():
        raise ConfigError(f"{name} must be a process id, got {value!r}")
    return int(value)


def _instance_id(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not re.fullmatch(r"[A-Za-z0-9._\-]{1,249}", value):
        raise ConfigError(f"{name} may hold only letters, digits, '.', '_' and '-', got {value!r}")
    return value
