"""What every command group shares: the table printer and the argument types. A handler that needs the cluster
opens a Runtime (`with Runtime.connect(settings) as runtime:`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from labkit.checks import parse_event_id
from labkit.errors import ConfigError, LabkitError
from labkit.services.workers import MAX_CONSUMERS, check_consumer_counts
from labkit.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, like the Kafka tools print them."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


# -- argument types: each names the option and what is allowed -----------------------------------------------------
def event_id_arg(value: str) -> int:
    try:
        return parse_event_id(value, source="--event-id")
    except LabkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def brokers_arg(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 9:
        raise argparse.ArgumentTypeError(f"--brokers must be an integer from 1 to 9, got {value!r}")
    return int(value)


def port_arg(value: str) -> int:
    if not value.isdigit() or not 1024 <= int(value) <= 65000:
        raise argparse.ArgumentTypeError(f"a port must be an integer from 1024 to 65000, got {value!r}")
    return int(value)


def consumer_count_arg(value: str) -> int:
    try:
        return check_consumer_counts(count=int(value) if value.isdigit() else value)["count"]
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_CONSUMERS}, got {value!r}") from exc


def positive_count_arg(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")
    return int(value)
