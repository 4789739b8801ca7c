"""`labkit groups list|describe`: consumer groups, their protocol, members and lag, like kafka-consumer-groups."""

from __future__ import annotations

import argparse

from labkit.cli.common import table
from labkit.domain.naming import KafkaConsumerGroupBuilder
from labkit.kafka.admin import Admin
from labkit.kafka.groups import describe_group, list_groups_with_protocol
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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    groups = commands.add_parser("groups", help="consumer groups, members and lag").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    groups.add_parser("list", help="every consumer group and its state").set_defaults(handler=groups_list)
    describe = groups.add_parser("describe", help="members, assignment, offsets and lag per partition")
    describe.add_argument("group")
    describe.set_defaults(handler=groups_describe)
