"""`labkit topics list|create|reset` and `labkit events list|delete`: what the cluster holds, by topic and event."""

from __future__ import annotations

import argparse

from labkit.cli.common import event_id_arg, table
from labkit.kafka.cleanup import apply_reset, plan_reset
from labkit.kafka.topics import describe_partitions, list_topics
from labkit.runtime import Runtime
from labkit.services.event_catalog import PARTITION_BUDGET, delete_event, list_events
from labkit.services.event_topics import setup_event_infrastructure_sync
from labkit.settings import Settings


def topics_list(args: argparse.Namespace, settings: Settings) -> int:
    with Runtime.connect(settings) as runtime:
        if args.partitions:
            rows = [
                (p.topic, p.partition, p.leader, ",".join(map(str, p.replicas)), ",".join(map(str, p.isr)))
                for p in describe_partitions(runtime.admin)
            ]
            print(table(["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], rows))
        else:
            print(table(["TOPIC", "PARTITIONS"], list(list_topics(runtime.admin).items())))
    return 0


def topics_create(args: argparse.Namespace, settings: Settings) -> int:
    for name, outcome in setup_event_infrastructure_sync(args.event_id, settings=settings).items():
        print(f"{outcome:8} {name}")
    return 0


def topics_reset(args: argparse.Namespace, settings: Settings) -> int:
    with Runtime.connect(settings) as runtime:
        return reset_topics(runtime, args.keep, args.dry_run)


def reset_topics(runtime: Runtime, keep: str, dry_run: bool) -> int:
    plan = plan_reset(runtime.admin, keep)
    verb = "would delete" if dry_run else "deleting"
    for name in plan.delete_topics:
        print(f"{verb} topic {name}")
    for name in plan.delete_groups:
        print(f"{verb} group {name}")
    for name, members in plan.busy_groups.items():
        print(f"refusing to delete group {name}: it still has {members} member(s); stop its consumers first")
    print(f"keeping {len(plan.kept)} topic(s)/group(s) matching {keep!r}")
    if not dry_run:
        apply_reset(runtime.admin, plan)
    return 1 if plan.busy_groups else 0


def events_list(args: argparse.Namespace, settings: Settings) -> int:
    with Runtime.connect(settings) as runtime:
        events = list_events(runtime.admin, runtime.redis)
    rows = [(e.event_id, e.topics, e.partitions, e.groups, "yes" if e.has_seats else "no") for e in events]
    print(table(["EVENT", "TOPICS", "PARTITIONS", "GROUPS", "SEATS"], rows))
    print(f"{sum(r[2] for r in rows)} event partition(s); budget {PARTITION_BUDGET}")
    return 0


def events_delete(args: argparse.Namespace, settings: Settings) -> int:
    with Runtime.connect(settings) as runtime:
        done = delete_event(runtime.admin, runtime.redis, args.event_id)
    print(
        f"event {done.event_id}: deleted {len(done.topics)} topic(s), {len(done.groups)} group(s), "
        f"{done.redis_keys} Redis key(s)"
    )
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    topics = commands.add_parser("topics", help="list, create and reset topics").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = topics.add_parser("list", help="every topic and its partition count")
    listing.add_argument("--partitions", action="store_true", help="one row per partition: leader, replicas, ISR")
    listing.set_defaults(handler=topics_list)
    create = topics.add_parser("create", help="create an event's topics (idempotent)")
    create.add_argument("--event-id", type=event_id_arg, required=True)
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
    delete.add_argument("event_id", type=event_id_arg)
    delete.set_defaults(handler=events_delete)
