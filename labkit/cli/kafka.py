"""`labkit kafka TOOL ARGS…`: Apache Kafka's own command-line tools, run from the fetched jars."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence

from labkit.cli.common import table
from labkit.cluster.tools import tool_command, tools_table
from labkit.settings import Settings

KAFKA_USAGE = "usage: labkit kafka TOOL [ARGS...]   (labkit kafka --list shows the tools)"


def kafka_tool(argv: Sequence[str], settings: Settings) -> int:
    """Parsed by hand, not by argparse, so that every argument — `--list`, `--help` included — reaches the tool
    untouched. The tool gets this terminal; its exit code is returned."""
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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(  # for `labkit --help`; main() hands `labkit kafka …` to kafka_tool before argparse
        "kafka", help="Apache Kafka's own tools (kafka-topics, kafka-consumer-groups, …): labkit kafka --list"
    )
