"""The `labkit` command: a thin layer over the package (the Makefile targets call it)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from labkit.cluster.jars import fetch, read_classpath
from labkit.cluster.local import DEFAULT_KAFKA_PORT, DEFAULT_REDIS_PORT, LocalCluster
from labkit.cluster.quorum import describe_quorum
from labkit.endpoints import kafka_bootstrap
from labkit.errors import LabkitError
from labkit.infrastructure import setup_event_infrastructure_sync
from labkit.kafka import admin as kafka_admin
from labkit.kafka.clients import admin_client
from labkit.settings import Settings, parse_event_id

Handler = Callable[[argparse.Namespace, Settings], int]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, like the Kafka tools print them."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


# -- cluster -------------------------------------------------------------------------------------------------------
def cluster_up(args: argparse.Namespace, settings: Settings) -> int:
    if settings.external:
        print(f"KAFKA_BOOTSTRAP_SERVERS is set ({settings.kafka_bootstrap_servers}): using it, starting nothing")
        return 0
    started = time.monotonic()
    state, did_start = LocalCluster(settings.home).up(args.brokers, args.kafka_port, args.redis_port)
    if did_start:
        print(f"started {len(state.brokers)} broker(s) and Redis in {time.monotonic() - started:.1f} s")
    else:
        print(f"already running ({len(state.brokers)} broker(s)): nothing started")
    print(f"KAFKA_BOOTSTRAP_SERVERS={state.bootstrap_servers}\nREDIS_URL={state.redis_url}")
    return 0


def cluster_down(args: argparse.Namespace, settings: Settings) -> int:
    killed = LocalCluster(settings.home).down(wipe=args.wipe)
    if killed:
        print(f"had to SIGKILL: {', '.join(killed)}")
    print("stopped" + (" and wiped the data" if args.wipe else " (data kept; --wipe deletes it)"))
    return 0


def cluster_status(args: argparse.Namespace, settings: Settings) -> int:
    cluster = LocalCluster(settings.home)
    status = cluster.status()
    print(f"Kafka {status.kafka_version} (KRaft, combined broker+controller), state in {settings.home}")
    rows = [(b.node_id, f"127.0.0.1:{b.port}", b.pid or "-", "yes" if b.alive else "NO") for b in status.brokers]
    print(table(["BROKER", "ADDRESS", "PID", "ALIVE"], rows))
    print(
        table(
            ["REDIS", "PID", "ALIVE"],
            [(status.redis_url, status.redis_pid or "-", "yes" if status.redis_alive else "NO")],
        )
    )
    if args.quorum and any(b.alive for b in status.brokers):
        state = cluster.load()
        assert state is not None
        quorum = describe_quorum(state.bootstrap_controllers, read_classpath(settings.home))
        print("controller quorum:")
        for key in (
            "ClusterId",
            "LeaderId",
            "LeaderEpoch",
            "HighWatermark",
            "MaxFollowerLag",
            "CurrentVoters",
            "CurrentObservers",
        ):
            if key in quorum:
                print(f"  {key}: {quorum[key]}")
    return 0 if status.running else 1


def cluster_env(args: argparse.Namespace, settings: Settings) -> int:
    bootstrap = kafka_bootstrap(settings)
    redis = settings.redis_url or LocalCluster(settings.home).running_state().redis_url
    print(f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}\nexport REDIS_URL={redis}")
    return 0


def cluster_fetch(args: argparse.Namespace, settings: Settings) -> int:
    classpath = fetch(settings.home)
    print(f"fetched {len(classpath.split(':'))} jars")
    return 0


# -- topics and groups ---------------------------------------------------------------------------------------------
def _admin(settings: Settings):  # type: ignore[no-untyped-def]
    return admin_client(kafka_bootstrap(settings))


def topics_list(args: argparse.Namespace, settings: Settings) -> int:
    admin = _admin(settings)
    if args.partitions:
        rows = [
            (p.topic, p.partition, p.leader, ",".join(map(str, p.replicas)), ",".join(map(str, p.isr)))
            for p in kafka_admin.describe_partitions(admin)
        ]
        print(table(["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], rows))
    else:
        print(table(["TOPIC", "PARTITIONS"], list(kafka_admin.list_topics(admin).items())))
    return 0


def topics_create(args: argparse.Namespace, settings: Settings) -> int:
    for name, outcome in setup_event_infrastructure_sync(args.event_id, settings=settings).items():
        print(f"{outcome:8} {name}")
    return 0


def topics_reset(args: argparse.Namespace, settings: Settings) -> int:
    admin = _admin(settings)
    plan = kafka_admin.plan_reset(admin, args.keep)
    verb = "would delete" if args.dry_run else "deleting"
    for name in plan.delete_topics:
        print(f"{verb} topic {name}")
    for name in plan.delete_groups:
        print(f"{verb} group {name}")
    for name, members in plan.busy_groups.items():
        print(f"refusing to delete group {name}: it still has {members} member(s); stop its consumers first")
    print(f"keeping {len(plan.kept)} topic(s)/group(s) matching {args.keep!r}")
    if not args.dry_run:
        kafka_admin.apply_reset(admin, plan)
    return 1 if plan.busy_groups else 0


def groups_list(args: argparse.Namespace, settings: Settings) -> int:
    print(table(["GROUP", "STATE"], list(kafka_admin.list_groups(_admin(settings)).items())))
    return 0


def groups_describe(args: argparse.Namespace, settings: Settings) -> int:
    group = kafka_admin.describe_group(_admin(settings), args.group)
    print(f"group {group.group_id}: {group.state}, {len(group.members)} member(s), total lag {group.total_lag}")
    clients = {m.member_id: m.client_id for m in group.members}
    rows = [
        (
            p.topic,
            p.partition,
            "-" if p.committed is None else p.committed,
            p.end,
            p.lag,
            clients.get(p.member_id or "", "-"),
        )
        for p in group.partitions
    ]
    print(table(["TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CLIENT-ID"], rows))
    return 0


# -- demo ----------------------------------------------------------------------------------------------------------
def demo(args: argparse.Namespace, settings: Settings) -> int:
    """Start the embedded cluster, create event 1's topics, show the cluster and the topics."""
    if not settings.external:
        up = argparse.Namespace(brokers=args.brokers, kafka_port=DEFAULT_KAFKA_PORT, redis_port=DEFAULT_REDIS_PORT)
        cluster_up(up, settings)
        cluster_status(argparse.Namespace(quorum=True), settings)
    topics_create(argparse.Namespace(event_id=args.event_id), settings)
    admin = _admin(settings)
    partitions = kafka_admin.describe_partitions(
        admin, list(setup_event_infrastructure_sync(args.event_id, settings=settings))
    )
    summary: dict[str, list[int]] = {}
    for p in partitions:
        summary.setdefault(p.topic, [0, 0, 0])
        summary[p.topic][0] += 1
        summary[p.topic][1] = len(p.replicas)
        summary[p.topic][2] += len(p.isr) == len(p.replicas)
    rows = [(name, n, rf, f"{full}/{n}") for name, (n, rf, full) in summary.items()]
    print(table(["TOPIC", "PARTITIONS", "REPLICATION", "FULLY IN SYNC"], rows))
    if not settings.external:
        print("the cluster keeps running: `labkit cluster down` (or `make down`) stops it")
    return 0


# -- parser --------------------------------------------------------------------------------------------------------
def _event_id(value: str) -> int:
    try:
        return parse_event_id(value, source="--event-id")
    except LabkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _brokers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 9:
        raise argparse.ArgumentTypeError(f"--brokers must be an integer from 1 to 9, got {value!r}")
    return int(value)


def _port(value: str) -> int:
    if not value.isdigit() or not 1024 <= int(value) <= 65000:
        raise argparse.ArgumentTypeError(f"a port must be an integer from 1024 to 65000, got {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cluster = commands.add_parser("cluster", help="the embedded Kafka + Redis cluster").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    up = cluster.add_parser("up", help="start N brokers and Redis (does nothing if they run)")
    up.add_argument("--brokers", type=_brokers, default=3, help="number of brokers, 1-9 (default 3)")
    up.add_argument("--kafka-port", type=_port, default=DEFAULT_KAFKA_PORT, help="first broker's port (default 9092)")
    up.add_argument("--redis-port", type=_port, default=DEFAULT_REDIS_PORT, help="Redis port (default 6379)")
    up.set_defaults(handler=cluster_up)
    down = cluster.add_parser("down", help="stop everything and free the ports")
    down.add_argument("--wipe", action="store_true", help="also delete the brokers' and Redis' data")
    down.set_defaults(handler=cluster_down)
    status = cluster.add_parser("status", help="brokers, controller quorum and Redis")
    status.add_argument("--no-quorum", dest="quorum", action="store_false", help="skip the quorum (saves a JVM start)")
    status.set_defaults(handler=cluster_status)
    cluster.add_parser("env", help="print export lines for eval").set_defaults(handler=cluster_env)
    cluster.add_parser("fetch", help="resolve the Kafka jars with Maven").set_defaults(handler=cluster_fetch)

    topics = commands.add_parser("topics", help="list, create and reset topics").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = topics.add_parser("list", help="every topic and its partition count")
    listing.add_argument("--partitions", action="store_true", help="one row per partition: leader, replicas, ISR")
    listing.set_defaults(handler=topics_list)
    create = topics.add_parser("create", help="create an event's topics (idempotent)")
    create.add_argument("--event-id", type=_event_id, required=True)
    create.set_defaults(handler=topics_create)
    reset = topics.add_parser("reset", help="delete every topic and empty group except those matching --keep")
    reset.add_argument("--keep", default="event-id-1_*", help="glob of names to keep (default 'event-id-1_*')")
    reset.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    reset.set_defaults(handler=topics_reset)

    groups = commands.add_parser("groups", help="consumer groups, members and lag").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    groups.add_parser("list", help="every consumer group and its state").set_defaults(handler=groups_list)
    describe = groups.add_parser("describe", help="members, assignment, offsets and lag per partition")
    describe.add_argument("group")
    describe.set_defaults(handler=groups_describe)

    demo_parser = commands.add_parser("demo", help="the walkthrough: cluster, event topics, summary")
    demo_parser.add_argument("--event-id", type=_event_id, default=1)
    demo_parser.add_argument("--brokers", type=_brokers, default=3)
    demo_parser.set_defaults(handler=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, Settings.from_env()))
    except LabkitError as exc:
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `labkit topics list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
