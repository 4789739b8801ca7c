"""The `labkit` command: a thin layer over the package (the Makefile targets call it)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import redis
from tqdm import tqdm

from labkit import consumers
from labkit.analysis import format_summary, messages_per_partition, summarize
from labkit.cluster.jars import fetch, read_classpath
from labkit.cluster.local import DEFAULT_KAFKA_PORT, DEFAULT_REDIS_PORT, LocalCluster
from labkit.cluster.quorum import describe_quorum
from labkit.endpoints import kafka_bootstrap, redis_url
from labkit.errors import LabkitError
from labkit.events import CLEANUP_HINT, PARTITION_BUDGET, delete_event, list_events, partition_count
from labkit.infrastructure import setup_event_infrastructure_sync
from labkit.kafka import admin as kafka_admin
from labkit.kafka.clients import admin_client
from labkit.kafka_tools import tool_command, tools_table
from labkit.lab import Lab
from labkit.load import parse_quantity_range, send_burst, wait_all
from labkit.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder
from labkit.seating import SeatingConfig
from labkit.services.workers import SERVICES
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
    if status.running:
        partitions = partition_count(_admin(settings))
        print(f"partitions: {partitions} (budget {PARTITION_BUDGET} on this machine)")
        if partitions > PARTITION_BUDGET:
            print(f"  past the budget: idle partitions slow every fetch round. Clean up with: {CLEANUP_HINT}")
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


def _redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(redis_url(settings), socket_timeout=30)


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


def events_list(args: argparse.Namespace, settings: Settings) -> int:
    client = _redis(settings)
    rows = [
        (e.event_id, e.topics, e.partitions, e.groups, "yes" if e.has_seats else "no")
        for e in list_events(_admin(settings), client)
    ]
    print(table(["EVENT", "TOPICS", "PARTITIONS", "GROUPS", "SEATS"], rows))
    print(f"{sum(r[2] for r in rows)} event partition(s); budget {PARTITION_BUDGET}")
    return 0


def events_delete(args: argparse.Namespace, settings: Settings) -> int:
    client = _redis(settings)
    done = delete_event(_admin(settings), client, args.event_id)
    print(
        f"event {done.event_id}: deleted {len(done.topics)} topic(s), {len(done.groups)} group(s), "
        f"{done.redis_keys} Redis key(s)"
    )
    return 0


def groups_list(args: argparse.Namespace, settings: Settings) -> int:
    groups = kafka_admin.list_groups_with_protocol(_admin(settings))
    print(table(["GROUP", "PROTOCOL", "STATE"], [(g, protocol, state) for g, (protocol, state) in groups.items()]))
    return 0


def groups_describe(args: argparse.Namespace, settings: Settings) -> int:
    group = kafka_admin.describe_group(_admin(settings), args.group)
    print(
        f"group {group.group_id}: {group.state}, protocol {group.protocol} (assignor {group.assignor or '-'}), "
        f"{len(group.members)} member(s), total lag {group.total_lag}"
    )
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


# -- consumers -----------------------------------------------------------------------------------------------------
def consumers_run(args: argparse.Namespace, settings: Settings) -> int:
    consumers.run(args.service, settings)
    return 0


def consumers_start(args: argparse.Namespace, settings: Settings) -> int:
    started = consumers.ConsumerProcesses(settings).start(args.ticketing, args.seat_reservation)
    alive = sum(p.alive for p in started)
    print(f"{alive} consumer process(es) running for event {settings.event_id}; logs in {settings.home / 'logs'}")
    return 0


def consumers_status(args: argparse.Namespace, settings: Settings) -> int:
    processes = consumers.ConsumerProcesses(settings).list()
    rows = [(p.service, p.index, p.pid or "-", "yes" if p.alive else "NO", p.log_file) for p in processes]
    print(table(["SERVICE", "#", "PID", "ALIVE", "LOG"], rows) if rows else "no consumer processes")
    admin = _admin(settings)
    for group in KafkaConsumerGroupBuilder.get_all_groups(settings.event_id):
        described = kafka_admin.describe_group(admin, group)
        lagging = [p for p in described.partitions if p.lag]
        print(f"group {group}: {described.state}, {len(described.members)} member(s), total lag {described.total_lag}")
        for p in lagging[:20]:
            print(f"  {p.topic}[{p.partition}] lag {p.lag}")
    return 0 if all(p.alive for p in processes) else 1


def consumers_stop(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    stopped, killed = consumers.ConsumerProcesses(settings).stop(args.timeout)
    print(
        f"stopped {stopped} consumer process(es) in {time.monotonic() - started:.1f} s"
        + (f"; had to SIGKILL {killed}" if killed else "")
    )
    return 0


def consumers_tail(args: argparse.Namespace, settings: Settings) -> int:
    logs = [str(p.log_file) for p in consumers.ConsumerProcesses(settings).list()]
    if not logs:
        print("no consumer processes")
        return 1
    os.execvp("tail", ["tail", "-n", "20", *(["-F"] if args.follow else []), *logs])


# -- bookings ------------------------------------------------------------------------------------------------------
def book(args: argparse.Namespace, settings: Settings) -> int:
    """Send a burst of bookings to running consumers (processes or another Lab) and summarise the outcomes."""
    low, high = parse_quantity_range(args.quantity)
    lab = Lab(settings)
    try:
        with tqdm(total=args.count, desc="sent", unit="booking", disable=args.quiet) as sent_bar:
            bookings = send_burst(
                lab, args.event_id, args.count, (low, high), args.section, args.subsection, on_sent=sent_bar.update
            )
        with tqdm(total=args.count, desc="done", unit="booking", disable=args.quiet) as done_bar:
            pending = wait_all(lab, args.event_id, [b.booking_id for b in bookings], args.timeout, done_bar.update)
        frame = lab.bookings(args.event_id)
        frame = frame[frame.booking_id.isin({b.booking_id for b in bookings})]
        print(format_summary(summarize(frame)))
        if pending:
            print(
                f"{pending} booking(s) got no outcome within {args.timeout} s: are consumers running? "
                "(`labkit consumers start` or `make c-start`)"
            )
            return 1
        return 0
    finally:
        lab.down()


# -- demo ----------------------------------------------------------------------------------------------------------
def demo(args: argparse.Namespace, settings: Settings) -> int:
    """The walkthrough: cluster up, event topics, 4 + 4 consumer processes, bookings, summary, clean stop."""
    if not settings.external:
        up = argparse.Namespace(brokers=args.brokers, kafka_port=DEFAULT_KAFKA_PORT, redis_port=DEFAULT_REDIS_PORT)
        cluster_up(up, settings)
        cluster_status(argparse.Namespace(quorum=True), settings)
    settings = replace(settings, event_id=args.event_id)
    lab = Lab(settings)
    processes = consumers.ConsumerProcesses(settings)
    try:
        seats = SeatingConfig.default().total_seats
        print(f"\n== event {args.event_id}: topics (one partition per subsection) and {seats} seats")
        for name, outcome in lab.setup_event(args.event_id).items():
            print(f"{outcome:8} {name}")
        print(f"\n== consumers: {args.consumers} ticketing + {args.consumers} seat-reservation processes")
        processes.start(args.consumers, args.consumers)
        processes.wait_for_members(args.consumers, args.consumers)
        print(f"\n== {args.count} bookings, 1-4 seats each, random subsections")
        book(
            argparse.Namespace(
                event_id=args.event_id,
                count=args.count,
                quantity="1-4",
                section=None,
                subsection=None,
                timeout=120.0,
                quiet=True,
            ),
            settings,
        )
        topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(args.event_id)
        per_partition = messages_per_partition(lab.bootstrap_servers, topic, SeatingConfig.default().subsection_count)
        print(f"\n== reserve-seats messages per partition (all-time log-end offsets of {topic})")
        counts = per_partition.messages
        print(f"partitions {len(counts)}, min {counts.min()}, median {counts.median():.0f}, max {counts.max()}")
        for section_index, section in enumerate(SeatingConfig.default().sections):
            row = counts[section_index * 10 : (section_index + 1) * 10]
            print(f"  {section}-1..{section}-10  " + " ".join(f"{n:4d}" for n in row))
        print("\n== consumer groups")
        groups_describe_brief(lab, args.event_id)
    finally:
        stopped, killed = processes.stop()
        lab.down()
        print(f"\nstopped {stopped} consumer process(es)" + (f" (SIGKILLed {killed})" if killed else ""))
    if not settings.external:
        print("the cluster keeps running for you: `make down` (labkit cluster down) stops it")
    return 0


def groups_describe_brief(lab: Lab, event_id: int) -> None:
    admin = admin_client(lab.bootstrap_servers)
    for group in KafkaConsumerGroupBuilder.get_all_groups(event_id):
        described = kafka_admin.describe_group(admin, group)
        print(f"{group}: {described.state}, {len(described.members)} member(s), total lag {described.total_lag}")


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


def _count(value: str) -> int:
    if not value.isdigit() or int(value) > 32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 32, got {value!r}")
    return int(value)


def _count_positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return int(value)


# -- Kafka's own tools ------------------------------------------------------------------------------------------
KAFKA_USAGE = "usage: labkit kafka TOOL [ARGS...]   (labkit kafka --list shows the tools)"


def kafka_tool(argv: Sequence[str], settings: Settings) -> int:
    """`labkit kafka TOOL ARGS…`: parsed by hand, not by argparse, so that every argument — `--list`, `--help`
    included — reaches the tool untouched. The tool gets this terminal; its exit code is returned."""
    if not argv or argv[0] in ("--list", "-h", "--help"):
        print(KAFKA_USAGE)
        print("Apache Kafka's command-line tools, run from the fetched jars; --bootstrap-server is filled in.\n")
        print(table(["TOOL", "WHAT IT DOES"], tools_table()))
        return 0
    command = tool_command(argv[0], argv[1:], settings)
    child = subprocess.Popen(command)
    try:
        return child.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the tool too (same process group): let it finish
        return child.wait()


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

    events = commands.add_parser("events", help="list events, delete one (topics, groups, Redis keys)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    events.add_parser("list", help="every event: topics, partitions, groups, seats").set_defaults(handler=events_list)
    delete = events.add_parser(
        "delete", help="delete an event's topics, groups and Redis keys (refuses while its consumers run)"
    )
    delete.add_argument("event_id", type=_event_id)
    delete.set_defaults(handler=events_delete)

    groups = commands.add_parser("groups", help="consumer groups, members and lag").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    groups.add_parser("list", help="every consumer group and its state").set_defaults(handler=groups_list)
    describe = groups.add_parser("describe", help="members, assignment, offsets and lag per partition")
    describe.add_argument("group")
    describe.set_defaults(handler=groups_describe)

    consumer_cmds = commands.add_parser("consumers", help="consumer processes (the spec's make c-*)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    run_parser = consumer_cmds.add_parser("run", help="run one consumer in the foreground (SIGTERM stops it)")
    run_parser.add_argument("service", choices=SERVICES)
    run_parser.set_defaults(handler=consumers_run)
    start = consumer_cmds.add_parser("start", help="start consumer processes in the background")
    start.add_argument("--ticketing", type=_count, default=4, help="ticketing processes (default 4)")
    start.add_argument("--seat-reservation", type=_count, default=4, help="seat-reservation processes (default 4)")
    start.set_defaults(handler=consumers_start)
    consumer_cmds.add_parser("status", help="processes, group members, lag per partition").set_defaults(
        handler=consumers_status
    )
    stop_parser = consumer_cmds.add_parser("stop", help="SIGTERM: commit, leave the group, exit")
    stop_parser.add_argument("--timeout", type=float, default=20.0, help="seconds before SIGKILL (default 20)")
    stop_parser.set_defaults(handler=consumers_stop)
    tail = consumer_cmds.add_parser("tail", help="the consumers' logs")
    tail.add_argument("--no-follow", dest="follow", action="store_false")
    tail.set_defaults(handler=consumers_tail)

    book_parser = commands.add_parser("book", help="send bookings and summarise the outcomes")
    book_parser.add_argument("--event-id", type=_event_id, default=1)
    book_parser.add_argument("--count", type=_count_positive, default=100)
    book_parser.add_argument("--quantity", default="1-4", help="seats per booking: N or LOW-HIGH (default 1-4)")
    book_parser.add_argument("--section", default=None, help="only this section (default: all)")
    book_parser.add_argument("--subsection", type=_count_positive, default=None, help="only this subsection")
    book_parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for outcomes")
    book_parser.add_argument("--quiet", action="store_true", help="no progress bars")
    book_parser.set_defaults(handler=book)

    commands.add_parser(  # for `labkit --help`; main() hands `labkit kafka …` to kafka_tool before argparse
        "kafka", help="Apache Kafka's own tools (kafka-topics, kafka-consumer-groups, …): labkit kafka --list"
    )

    demo_parser = commands.add_parser("demo", help="the walkthrough: cluster, event topics, summary")
    demo_parser.add_argument("--event-id", type=_event_id, default=1)
    demo_parser.add_argument("--brokers", type=_brokers, default=3)
    demo_parser.add_argument("--consumers", type=_count, default=4, help="processes per service (default 4)")
    demo_parser.add_argument("--count", type=_count_positive, default=1000, help="bookings (default 1000)")
    demo_parser.set_defaults(handler=demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["kafka"]:
            return kafka_tool(argv[1:], Settings.from_env())
        args = build_parser().parse_args(argv)
        return int(args.handler(args, Settings.from_env()))
    except (LabkitError, ValueError) as exc:  # validation errors name the argument and what is allowed
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `labkit topics list | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
