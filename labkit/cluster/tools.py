"""Apache Kafka's own command-line tools (`kafka-topics`, `kafka-consumer-groups`, …), run from the jars that
`labkit cluster fetch` resolved, against the embedded cluster or KAFKA_BOOTSTRAP_SERVERS.

The spec manages topics and groups with these tools through `docker exec`; here the same commands run as
`labkit kafka kafka-consumer-groups --describe --group …`. The cluster's address is filled in when the
command gives none, each tool in the way it takes it. The JVM starts small (a tool is a short-lived client)
and logs only warnings, to stderr, so a tool's output is its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.client_config import java_properties_text
from labkit.cluster.endpoints import kafka_bootstrap
from labkit.cluster.jars import ensure_classpath, services_dir
from labkit.cluster.java import find_java
from labkit.errors import ClusterError, ConfigError
from labkit.settings import Settings

# A tool is a client: a small heap, the quick C1 compiler, one GC thread.
TOOL_JVM_OPTIONS = ("-Xms32m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true")

_HOST_PORTS = re.compile(r"^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$")


@dataclass(frozen=True)
class Tool:
    """`name` is the script's name in Kafka's bin/ (without .sh); `address` how it takes the cluster's address:
    'flag' (--bootstrap-server), 'producer-props' (bootstrap.servers=… among --producer-props), 'positional'
    (the first argument) or 'none' (it reads files, not the cluster); `config_flag` the option that names a
    client properties file (a secured cluster's settings), '' for e2e-latency's sixth positional argument."""

    name: str
    main: str
    summary: str
    address: str = "flag"
    config_flag: str = "--command-config"
    subcommand_first: bool = False  # its options follow its subcommand (kafka-cluster cluster-id --bootstrap-…)


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("kafka-topics", "org.apache.kafka.tools.TopicCommand", "list, describe, create, alter, delete topics"),
        Tool(
            "kafka-consumer-groups",
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "list and describe groups (members, offsets, lag), reset offsets, delete groups",
        ),
        Tool(
            "kafka-share-groups",
            "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
            "list and describe share groups (members, start offsets, lag), reset their start offsets",
        ),
        Tool("kafka-console-producer", "org.apache.kafka.tools.ConsoleProducer", "write lines of stdin to a topic"),
        Tool("kafka-console-consumer", "org.apache.kafka.tools.consumer.ConsoleConsumer", "print a topic's records"),
        Tool("kafka-get-offsets", "org.apache.kafka.tools.GetOffsetShell", "offsets per partition (latest, earliest)"),
        Tool("kafka-metadata-quorum", "org.apache.kafka.tools.MetadataQuorumCommand", "the KRaft controller quorum"),
        Tool("kafka-configs", "kafka.admin.ConfigCommand", "describe and alter broker, topic and group configs"),
        Tool(
            "kafka-producer-perf-test",
            "org.apache.kafka.tools.ProducerPerformance",
            "producer throughput and latency",
            address="producer-props",
        ),
        Tool("kafka-consumer-perf-test", "org.apache.kafka.tools.ConsumerPerformance", "consumer throughput"),
        Tool(
            "kafka-e2e-latency",
            "org.apache.kafka.tools.EndToEndLatency",
            "produce → consume latency, one record at a time",
            address="positional",
            config_flag="",
        ),
        Tool("kafka-leader-election", "org.apache.kafka.tools.LeaderElectionCommand", "elect preferred leaders"),
        Tool(
            "kafka-reassign-partitions",
            "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
            "move replicas between brokers",
        ),
        Tool(
            "kafka-cluster",
            "org.apache.kafka.tools.ClusterTool",
            "the cluster id, unregister a broker",
            subcommand_first=True,
        ),
        Tool("kafka-log-dirs", "org.apache.kafka.tools.LogDirsCommand", "log directories and partition sizes"),
        Tool(
            "kafka-dump-log",
            "kafka.tools.DumpLogSegments",
            "print a log segment's batches (offsets, producer id, epoch, sequence) from its file",
            address="none",
        ),
        Tool("kafka-delete-records", "org.apache.kafka.tools.DeleteRecordsCommand", "delete records up to an offset"),
        Tool("kafka-features", "org.apache.kafka.tools.FeatureCommand", "feature versions (metadata.version, …)"),
        Tool(
            "kafka-broker-api-versions",
            "org.apache.kafka.tools.BrokerApiVersionsCommand",
            "the API versions each broker serves",
        ),
    )
}


def tool(name: str) -> Tool:
    """The tool called `name` (`.sh` allowed); ConfigError listing the tools otherwise."""
    found = TOOLS.get(name.removesuffix(".sh"))
    if found is None:
        raise ConfigError(f"no Kafka tool {name!r}; the tools are: {', '.join(sorted(TOOLS))}")
    return found


def with_address(chosen: Tool, args: Sequence[str], bootstrap: str) -> list[str]:
    """`args` with the cluster's address added, unless they give one or ask only for help."""
    args = list(args)
    if chosen.address == "none" or not args or any(a in ("-h", "--help", "--version") for a in args):
        return args
    if chosen.address == "positional":
        return args if _HOST_PORTS.match(args[0]) else [bootstrap, *args]
    if chosen.address == "producer-props":
        if any(a.startswith("bootstrap.servers=") or a == "--producer.config" for a in args):
            return args
        if "--producer-props" in args:
            at = args.index("--producer-props") + 1
            return [*args[:at], f"bootstrap.servers={bootstrap}", *args[at:]]
        return [*args, "--producer-props", f"bootstrap.servers={bootstrap}"]
    if any(a.split("=", 1)[0] in ("--bootstrap-server", "--bootstrap-controller") for a in args):
        return args
    return _with_options(chosen, args, ["--bootstrap-server", bootstrap])


def _with_options(chosen: Tool, args: list[str], options: list[str]) -> list[str]:
    """Options first — argparse tools take them before their subcommand — or right after the subcommand."""
    return [args[0], *options, *args[1:]] if chosen.subcommand_first else [*options, *args]


def with_client_config(chosen: Tool, args: Sequence[str], config_file: Path) -> list[str]:
    """`args` with the secured cluster's properties file added, unless they name one or ask only for help."""
    args = list(args)
    if chosen.address == "none" or not args or any(a in ("-h", "--help", "--version") for a in args):
        return args
    if not chosen.config_flag:  # kafka-e2e-latency: bootstrap topic records acks size [config file]
        return args if len(args) >= 6 else [*args, str(config_file)]
    given = (chosen.config_flag, "--producer.config", "--consumer.config", "--admin.config")
    if any(a.split("=", 1)[0] in given for a in args):
        return args
    return _with_options(chosen, args, [chosen.config_flag, str(config_file)])


def write_tool_config(settings: Settings) -> Path | None:
    """The secured cluster's settings in Java's names, in a file only this user may read; None without
    KAFKA_CLIENT_CONFIG."""
    if settings.client_config is None:
        return None
    path = settings.home / "kafka-tools" / "client.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh file moved into place: a tool starting meanwhile reads the old one whole, never a half-written one
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".client-", suffix=".properties")  # mode 0600
    with os.fdopen(fd, "w", encoding="latin-1", errors="backslashreplace") as f:  # Java reads ISO-8859-1
        f.write(f"# written by labkit from {settings.client_config.path}\n")
        f.write(java_properties_text(settings.client_config.java_properties()))
    os.replace(temporary, path)
    return path


def tool_command(name: str, args: Sequence[str], settings: Settings) -> list[str]:
    """The java command line that runs tool `name` with `args` against labkit's cluster."""
    chosen = tool(name)
    log_config = services_dir() / "kafka" / "tools-log4j2.properties"
    args = with_address(chosen, args, kafka_bootstrap(settings))
    config_file = write_tool_config(settings)
    return [
        str(find_java(settings.java_home)),
        *TOOL_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={log_config}",
        "-cp",
        ensure_classpath(settings.home),  # fetched on first use in a home of its own (an external cluster's)
        chosen.main,
        *(args if config_file is None else with_client_config(chosen, args, config_file)),
    ]


def run_tool(
    name: str, args: Sequence[str], settings: Settings, input: str | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run a tool to the end and capture its output (for notebooks and tests; the CLI hands over its terminal)."""
    return subprocess.run(
        tool_command(name, args, settings), input=input, capture_output=True, text=True, timeout=timeout
    )


def tool_output(name: str, args: Sequence[str], settings: Settings) -> str:
    """What the tool printed; ClusterError with the end of its stderr if it failed."""
    result = run_tool(name, args, settings)
    if result.returncode != 0:
        raise ClusterError(f"{name} exited with {result.returncode}: {result.stderr.strip()[-1000:]}")
    return result.stdout


def tools_table() -> list[tuple[str, str]]:
    return [(t.name, t.summary) for t in sorted(TOOLS.values(), key=lambda t: t.name)]
