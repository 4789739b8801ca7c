"""`labkit book`: send bookings to running consumers (processes or another Lab) and summarise the outcomes."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from labkit.cli.common import event_id_arg, positive_count_arg
from labkit.experiments.booking_summary import format_summary, summarize
from labkit.experiments.load import parse_quantity_range, send_burst, wait_all
from labkit.lab import Lab
from labkit.services.booking_tracker import idle_groups_hint
from labkit.settings import Settings


def book_and_summarize(
    lab: Lab,
    event_id: int,
    count: int,
    quantity: str = "1-4",
    section: str | None = None,
    subsection: int | None = None,
    timeout: float = 120.0,
    quiet: bool = False,
) -> int:
    """Send `count` bookings, wait for their outcomes, print the summary; 1 if some got no outcome in time.

    Refused at once (1, nothing sent) when a consumer group of the event has no member: no outcome could come.
    """
    low, high = parse_quantity_range(quantity)
    idle = idle_groups_hint(lab.group_members(event_id))
    if idle is not None:
        print(f"labkit: not booking: {idle}", file=sys.stderr)
        return 1
    with tqdm(total=count, desc="sent", unit="booking", disable=quiet) as sent_bar:
        bookings = send_burst(lab, event_id, count, (low, high), section, subsection, on_sent=sent_bar.update)
    with tqdm(total=count, desc="done", unit="booking", disable=quiet) as done_bar:
        pending = wait_all(lab, event_id, [b.booking_id for b in bookings], timeout, done_bar.update)
    frame = lab.bookings(event_id)
    print(format_summary(summarize(frame[frame.booking_id.isin({b.booking_id for b in bookings})])))
    if pending:
        print(
            f"{pending} booking(s) got no outcome within {timeout} s: are consumers running? "
            "(`labkit consumers start` or `make c-start`)"
        )
        return 1
    return 0


def book(args: argparse.Namespace, settings: Settings) -> int:
    lab = Lab(settings)
    try:
        return book_and_summarize(
            lab, args.event_id, args.count, args.quantity, args.section, args.subsection, args.timeout, args.quiet
        )
    finally:
        lab.down()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    book_parser = commands.add_parser("book", help="send bookings and summarise the outcomes")
    book_parser.add_argument("--event-id", type=event_id_arg, default=1)
    book_parser.add_argument("--count", type=positive_count_arg, default=100)
    book_parser.add_argument("--quantity", default="1-4", help="seats per booking: N or LOW-HIGH (default 1-4)")
    book_parser.add_argument("--section", default=None, help="only this section (default: all)")
    book_parser.add_argument("--subsection", type=positive_count_arg, default=None, help="only this subsection")
    book_parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for outcomes")
    book_parser.add_argument("--quiet", action="store_true", help="no progress bars")
    book_parser.set_defaults(handler=book)
