"""The `labkit` command: a thin layer over the package (the Makefile targets call it).

One module per command group (`cluster`, `registry`, `topics` with `events`, `groups`, `consumers`, `book`,
`kafka`, `chaos`, `demo`, `exercises`), each with its handlers and a `register(commands)` that adds its
sub-parser; `common` holds what they share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from labkit.cli import book, chaos, cluster, consumers, demo, exercises, groups, kafka, registry, topics
from labkit.errors import LabkitError
from labkit.settings import Settings

# in `labkit --help` order
COMMAND_GROUPS = (cluster, registry, topics, groups, consumers, book, kafka, chaos, demo, exercises)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="labkit: a Kafka ticketing lab (see README.md)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["kafka"]:
            return kafka.kafka_tool(argv[1:], Settings.from_env())
        args = build_parser().parse_args(argv)
        return int(args.handler(args, Settings.from_env()))
    except LabkitError as exc:  # validation errors name the argument and what is allowed
        print(f"labkit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `labkit topics list | head`
        sys.stderr.close()
        return 0
