"""`labkit demo` (`make demo`): the walkthrough, from an empty machine to a summary of 1,000 bookings."""

from __future__ import annotations

import argparse
from dataclasses import replace

from labkit.cli.book import book_and_summarize
from labkit.cli.cluster import print_status, start_cluster
from labkit.cli.common import brokers_arg, consumer_count_arg, event_id_arg, positive_count_arg
from labkit.cli.consumers import stop_processes
from labkit.cli.groups import print_event_groups
from labkit.cluster.state import DEFAULT_KAFKA_PORT, DEFAULT_REDIS_PORT
from labkit.domain.naming import KafkaTopicBuilder
from labkit.domain.seating import SeatingConfig
from labkit.experiments.booking_summary import messages_per_partition
from labkit.lab import Lab
from labkit.services.consumer_processes import ConsumerProcesses
from labkit.settings import Settings


def run_demo(settings: Settings, event_id: int, brokers: int, consumers: int, count: int) -> int:
    """Cluster up, event topics, consumer processes, bookings, partition spread, groups, clean stop."""
    if not settings.external:
        start_cluster(settings, brokers, DEFAULT_KAFKA_PORT, DEFAULT_REDIS_PORT)
        print_status(settings, quorum=True)
    settings = replace(settings, event_id=event_id)
    lab = Lab(settings)
    processes = ConsumerProcesses(settings)
    venue = SeatingConfig.default()
    try:
        print(f"\n== event {event_id}: topics (one partition per subsection) and {venue.total_seats} seats")
        for name, outcome in lab.setup_event(event_id).items():
            print(f"{outcome:8} {name}")
        print(f"\n== consumers: {consumers} ticketing + {consumers} seat-reservation processes")
        processes.start(consumers, consumers)
        processes.wait_for_members(consumers, consumers)
        print(f"\n== {count} bookings, 1-4 seats each, random subsections")
        book_and_summarize(lab, event_id, count, quiet=True)
        topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
        counts = messages_per_partition(lab.bootstrap_servers, topic, venue.subsection_count).messages
        print(f"\n== reserve-seats messages per partition (all-time log-end offsets of {topic})")
        print(f"partitions {len(counts)}, min {counts.min()}, median {counts.median():.0f}, max {counts.max()}")
        for section_index, section in enumerate(venue.sections):
            row = counts[section_index * venue.subsections : (section_index + 1) * venue.subsections]
            print(f"  {section}-1..{section}-{venue.subsections}  " + " ".join(f"{n:4d}" for n in row))
        print("\n== consumer groups")
        print_event_groups(lab.admin, event_id)
    finally:
        print()
        stop_processes(processes)
        lab.down()
    if not settings.external:
        print("the cluster keeps running for you: `make down` (labkit cluster down) stops it")
    return 0


def demo(args: argparse.Namespace, settings: Settings) -> int:
    return run_demo(settings, args.event_id, args.brokers, args.consumers, args.count)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo_parser = commands.add_parser("demo", help="the walkthrough: cluster, event topics, summary")
    demo_parser.add_argument("--event-id", type=event_id_arg, default=1)
    demo_parser.add_argument("--brokers", type=brokers_arg, default=3)
    demo_parser.add_argument(
        "--consumers", type=consumer_count_arg, default=4, help="processes per service (default 4)"
    )
    demo_parser.add_argument("--count", type=positive_count_arg, default=1000, help="bookings (default 1000)")
    demo_parser.set_defaults(handler=demo)
