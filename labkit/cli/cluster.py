"""`labkit cluster up|down|status|env|fetch`: the embedded Kafka + Redis cluster."""

from __future__ import annotations

import argparse
import time
from urllib.parse import urlsplit, urlunsplit

import redis

from labkit.cli.common import brokers_arg, port_arg, table
from labkit.cluster.described import LAB_SETTINGS, describe_cluster, embedded_settings
from labkit.cluster.endpoints import kafka_bootstrap, redis_url
from labkit.cluster.jars import fetch, read_classpath
from labkit.cluster.java import describe_java, find_java
from labkit.cluster.local import LocalCluster
from labkit.cluster.network import LOOPBACK, NAMESPACES, NETWORKS
from labkit.cluster.quorum import describe_quorum, parse_quorum
from labkit.cluster.state import DEFAULT_KAFKA_PORT, DEFAULT_REDIS_PORT, partial_outage
from labkit.cluster.tools import tool_output
from labkit.errors import ClusterError
from labkit.kafka.topics import under_replicated
from labkit.runtime import Runtime
from labkit.services.event_catalog import CLEANUP_HINT, PARTITION_BUDGET, partition_count
from labkit.settings import Settings

QUORUM_KEYS = (
    "ClusterId",
    "LeaderId",
    "LeaderEpoch",
    "HighWatermark",
    "MaxFollowerLag",
    "CurrentVoters",
    "CurrentObservers",
)


def start_cluster(
    settings: Settings, brokers: int, kafka_port: int, redis_port: int, network: str | None = None
) -> None:
    """Start the brokers and Redis unless they run (or Kafka is external); print the addresses."""
    if settings.external:
        print(
            f"Kafka at {settings.kafka_bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS or KAFKA_CLIENT_CONFIG): "
            "using it, starting nothing"
        )
        return
    started = time.monotonic()
    cluster = LocalCluster(settings.home)
    state, did_start = cluster.up(brokers, kafka_port, redis_port, warm=True, progress=print, network=network)
    if did_start:
        print(f"started {len(state.brokers)} broker(s) and Redis in {time.monotonic() - started:.1f} s")
        if cluster.last_warmup is not None:
            print(f"brokers {cluster.last_warmup}")
    else:
        print(f"already running ({len(state.brokers)} broker(s)): nothing started")
    print(f"KAFKA_BOOTSTRAP_SERVERS={state.bootstrap_servers}\nREDIS_URL={state.redis_url}")


def print_status(settings: Settings, quorum: bool) -> bool:
    """Brokers, Redis, (the controller quorum), the partition count against the budget; True if all run."""
    if settings.external:
        return print_external_status(settings, quorum)
    cluster = LocalCluster(settings.home)
    status = cluster.status()
    state = cluster.load()
    network = "each broker in a network namespace of its own" if state and state.network == NAMESPACES else "127.0.0.1"
    print(f"Kafka {status.kafka_version} (KRaft, combined broker+controller) on {network}, state in {settings.home}")
    print(f"Java: {describe_java(find_java(settings.java_home))}")
    rows = [(b.node_id, b.address, b.pid or "-", "yes" if b.alive else "NO") for b in status.brokers]
    print(table(["BROKER", "ADDRESS", "PID", "ALIVE"], rows))
    redis_row = (status.redis_url, status.redis_pid or "-", "yes" if status.redis_alive else "NO")
    print(table(["REDIS", "PID", "ALIVE"], [redis_row]))
    if quorum and state is not None and any(b.alive for b in status.brokers):
        print_quorum(describe_quorum(state.bootstrap_controllers, read_classpath(settings.home), settings.java_home))
    if status.dead:
        print(partial_outage(settings.home, status.dead))
    if any(b.alive for b in status.brokers):
        with Runtime.connect(settings) as runtime:
            partitions = partition_count(runtime.admin)
            lagging = under_replicated(runtime.admin)
        print(f"partitions: {partitions} (budget {PARTITION_BUDGET} on this machine)")
        if partitions > PARTITION_BUDGET:
            print(f"  past the budget: idle partitions slow every fetch round. Clean up with: {CLEANUP_HINT}")
        print(f"under-replicated partitions: {sum(lagging.values())}", f"in {len(lagging)} topic(s)" if lagging else "")
    return status.running


def print_external_status(settings: Settings, quorum: bool) -> bool:
    """The cluster labkit did not start, from what it answers; True if every partition has a leader and Redis
    answers."""
    print(f"Kafka at {settings.kafka_bootstrap_servers}: a cluster labkit did not start, and will not stop")
    connection = settings.client_config.summary() if settings.client_config else "PLAINTEXT (no KAFKA_CLIENT_CONFIG)"
    print(f"connection: {connection}")
    with Runtime.connect(settings) as runtime:
        described = describe_cluster(runtime.admin)
        redis_ok = _answers(runtime)
    print(f"cluster id: {described.cluster_id}")
    print(table(["BROKER", "ADDRESS", "RACK"], [(b.node_id, b.address, b.rack or "-") for b in described.brokers]))
    if quorum:
        _print_external_quorum(settings)
    print(f"topics: {described.topics}, partitions: {described.partitions}")
    print(f"under-replicated partitions: {described.under_replicated}, offline partitions: {described.offline}")
    embedded = embedded_settings()
    print(f"broker settings the lab depends on (broker {described.settings_from}; labkit's own cluster beside):")
    rows = [
        (name, described.settings.get(name, "?"), embedded.get(name, "(Kafka's default)"), why)
        for name, why in LAB_SETTINGS.items()
    ]
    print(table(["SETTING", "THIS CLUSTER", "LABKIT'S CLUSTER", "WHAT DEPENDS ON IT"], rows))
    print(table(["REDIS", "ANSWERS"], [(masked_url(settings.redis_url or ""), "yes" if redis_ok else "NO")]))
    return described.offline == 0 and redis_ok


def _print_external_quorum(settings: Settings) -> None:
    try:
        described = parse_quorum(tool_output("kafka-metadata-quorum", ["describe", "--status"], settings))
    except ClusterError as error:
        print(f"controller quorum: not described ({str(error).splitlines()[-1][:200]})")
        return
    print_quorum(described)


def print_quorum(described: dict[str, str]) -> None:
    print("controller quorum:")
    for key in QUORUM_KEYS:
        if key in described:
            print(f"  {key}: {described[key]}")


def _answers(runtime: Runtime) -> bool:
    try:
        return bool(runtime.redis.ping())
    except redis.RedisError:
        return False


def masked_url(url: str) -> str:
    """A Redis URL with its password replaced (up to the last '@' before the host: a password may hold one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:********@{host}"))


def cluster_up(args: argparse.Namespace, settings: Settings) -> int:
    start_cluster(settings, args.brokers, args.kafka_port, args.redis_port, args.network)
    return 0


def cluster_down(args: argparse.Namespace, settings: Settings) -> int:
    killed = LocalCluster(settings.home).down(wipe=args.wipe)
    if killed:
        print(f"had to SIGKILL: {', '.join(killed)}")
    print("stopped" + (" and wiped the data" if args.wipe else " (data kept; --wipe deletes it)"))
    return 0


def cluster_status(args: argparse.Namespace, settings: Settings) -> int:
    return 0 if print_status(settings, args.quorum) else 1


def cluster_env(args: argparse.Namespace, settings: Settings) -> int:
    print(f"export KAFKA_BOOTSTRAP_SERVERS={kafka_bootstrap(settings)}\nexport REDIS_URL={redis_url(settings)}")
    if settings.client_config is not None:  # the file's path, not its contents: another host needs its own copy
        print(f"export KAFKA_CLIENT_CONFIG={settings.client_config.path}")
    return 0


def cluster_fetch(args: argparse.Namespace, settings: Settings) -> int:
    classpath = fetch(settings.home)
    print(f"fetched {len(classpath.split(':'))} jars")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cluster = commands.add_parser("cluster", help="the embedded Kafka + Redis cluster").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    up = cluster.add_parser("up", help="start N brokers and Redis (does nothing if they run)")
    up.add_argument("--brokers", type=brokers_arg, default=3, help="number of brokers, 1-9 (default 3)")
    up.add_argument(
        "--kafka-port", type=port_arg, default=DEFAULT_KAFKA_PORT, help="first broker's port (default 9092)"
    )
    up.add_argument("--redis-port", type=port_arg, default=DEFAULT_REDIS_PORT, help="Redis port (default 6379)")
    up.add_argument(
        "--network",
        choices=NETWORKS,
        default=None,
        help=f"{LOOPBACK}: every broker on 127.0.0.1 (a new cluster's default); {NAMESPACES}: each broker in a "
        "network namespace of its own, so that `labkit chaos` can cut links (needs root)",
    )
    up.set_defaults(handler=cluster_up)
    down = cluster.add_parser("down", help="stop everything and free the ports")
    down.add_argument("--wipe", action="store_true", help="also delete the brokers' and Redis' data")
    down.set_defaults(handler=cluster_down)
    status = cluster.add_parser(
        "status", help="brokers, controller quorum and Redis (of KAFKA_BOOTSTRAP_SERVERS' cluster when set)"
    )
    status.add_argument("--no-quorum", dest="quorum", action="store_false", help="skip the quorum (saves a JVM start)")
    status.set_defaults(handler=cluster_status)
    cluster.add_parser("env", help="print export lines for eval").set_defaults(handler=cluster_env)
    cluster.add_parser("fetch", help="resolve the Kafka jars with Maven").set_defaults(handler=cluster_fetch)
