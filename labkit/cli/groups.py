"""`labkit groups list|describe|stalls`: consumer groups, their protocol, members and lag, like
kafka-consumer-groups; and partitions whose lag does not move (labkit.kafka.stalls)."""

from __future__ import annotations

import argparse
import threading
import time

from labkit.cli.common import positive_count_arg, table
from labkit.domain.naming import KafkaConsumerGroupBuilder
from labkit.errors import ConfigError
from labkit.kafka.admin import Admin
from labkit.kafka.groups import describe_group, list_groups_with_protocol
from labkit.kafka.stalls import Stall, StallDetector
from labkit.runtime import Runtime
from labkit.settings import Settings


def groups_list(args: argparse.Namespace, settings: Settings) -> int:
    with Runtime.connect(settings) as runtime:
        groups = list_groups_with_protocol(runtime.admin)
    print(table(["GROUP", "PROTOCOL", "STATE"], [(g, protocol, state) for g, (protocol, state) in groups.items()]))
    return 0


def groups_describe(args: argparse.Namespace, settings: Settings) -> int:
    with Runtime.connect(settings) as runtime:
        group = describe_group(runtime.admin, args.group)
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


def print_event_groups(admin: Admin, event_id: int, lagging: bool = False) -> None:
    """One line per group of the event (state, members, total lag); with `lagging`, its lagging partitions."""
    for group_id in KafkaConsumerGroupBuilder.get_all_groups(event_id):
        group = describe_group(admin, group_id)
        print(f"group {group_id}: {group.state}, {len(group.members)} member(s), total lag {group.total_lag}")
        if lagging:
            for p in [p for p in group.partitions if p.lag][:20]:
                print(f"  {p.topic}[{p.partition}] lag {p.lag}")


def groups_stalls(args: argparse.Namespace, settings: Settings) -> int:
    """Describe the group every second for `--seconds`; print the partitions stalled `--after` s; 1 if any."""
    if args.seconds < args.after:
        raise ConfigError(f"--seconds ({args.seconds}) must be at least --after ({args.after}): no stall could be seen")
    detector = StallDetector(after=args.after)
    stalls: list[Stall] = []
    ticker = threading.Event()
    started = time.monotonic()
    with Runtime.connect(settings) as runtime:
        while (now := time.monotonic()) - started <= args.seconds:
            stalls = detector.observe(describe_group(runtime.admin, args.group), now)
            ticker.wait(1.0)  # a sampling period, not a synchronisation
    for stall in stalls:
        print(stall)
    print(f"{args.group}: {len(stalls)} partition(s) stalled for {args.after:g} s or more")
    return 1 if stalls else 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    groups = commands.add_parser("groups", help="consumer groups, members and lag").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    groups.add_parser("list", help="every consumer group and its state").set_defaults(handler=groups_list)
    describe = groups.add_parser("describe", help="members, assignment, offsets and lag per partition")
    describe.add_argument("group")
    describe.set_defaults(handler=groups_describe)
    stalls = groups.add_parser(
        "stalls", help="watch a group: partitions with lag whose committed offset does not move (exit 1 if any)"
    )
    stalls.add_argument("group")
    stalls.add_argument("--seconds", type=positive_count_arg, default=15, help="how long to watch (default 15)")
    stalls.add_argument("--after", type=positive_count_arg, default=10, help="stalled after this many s (default 10)")
    stalls.set_defaults(handler=groups_stalls)
