"""One Kafka broker of the embedded cluster: its config file, its storage format, its command line."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.cluster.aot import default_aot_dir
from labkit.cluster.jars import services_dir
from labkit.errors import ClusterError

HOST = "127.0.0.1"
# The full tiered JIT (C2) and the serial collector (bench/jvm_matrix.py; docs/benchmark.md, "Why these
# settings"): with C1 only, the plain pipe's p99 at 250/s was 2.5–5.0 s on a warm cluster, with C2 0.6–1.5 s.
# C2 keeps about half a core busy compiling for ≈ 4.5 min after a start, so `cluster up` warms the brokers up on
# purpose (cluster/warmup.py). The serial collector: one GC thread instead of G1's concurrent ones on a 2-core machine.
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


@dataclass(frozen=True)
class BrokerTuning:
    """How the brokers' JVMs run and what they override of `broker_properties`: the defaults are labkit's
    settings; `bench/jvm_matrix.py` starts clusters with others to measure them against each other."""

    jvm_options: tuple[str, ...] = JVM_OPTIONS
    properties: Mapping[str, str] = field(default_factory=dict)
    java: Path | None = None  # None: find_java(LABKIT_JAVA_HOME): the pinned JDK unless told
    aot_dir: Path | None = field(default_factory=default_aot_dir)  # None: no ahead-of-time cache (cluster/aot.py)


@dataclass(frozen=True)
class BrokerSpec:
    """Node `node_id` of an N-node KRaft cluster in combined mode (broker + controller in one JVM)."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    host: str = HOST  # its own address where it runs in a network namespace of its own (cluster/network.py)

    @property
    def config_file(self) -> Path:
        return self.data_dir.parent / f"broker-{self.node_id}.properties"

    @property
    def marker(self) -> str:
        """Text unique to this broker's command line, to recognise its pid."""
        return str(self.config_file)


SHARE_GROUP_SETTINGS = {
    # Share groups (KIP-932, notebook 14): the same short sessions and heartbeats as consumer groups (a share
    # consumer's first poll waits for its first heartbeat's assignment: 5 s by default), a record lock a group
    # may lower to 1 s (Kafka's minimum is 15 s; the default lock stays 30 s), and 3 partitions for the share
    # state topic (default 50: 150 replicas to create on the first share group's first use).
    "group.share.session.timeout.ms": "2500",
    "group.share.min.session.timeout.ms": "2000",
    "group.share.heartbeat.interval.ms": "250",
    "group.share.min.heartbeat.interval.ms": "250",
    "group.share.min.record.lock.duration.ms": "1000",
    "share.coordinator.state.topic.num.partitions": "3",
}


def broker_properties(spec: BrokerSpec, voters: list[BrokerSpec]) -> dict[str, str]:
    """Lab settings: real replication (min(3, N)) and durability (min.insync.replicas min(2, N)), fast joins."""
    n = len(voters)
    replication, min_isr = str(min(3, n)), str(min(2, n))
    return {
        "process.roles": "broker,controller",
        "node.id": str(spec.node_id),
        "controller.quorum.voters": ",".join(f"{v.node_id}@{v.host}:{v.controller_port}" for v in voters),
        "listeners": f"PLAINTEXT://{spec.host}:{spec.port},CONTROLLER://{spec.host}:{spec.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{spec.host}:{spec.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(spec.data_dir),
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        # Consumer groups (KIP-848, group.protocol=consumer): the coordinator declares a member dead after
        # 2.5 s without a heartbeat (default 45 s), and members heartbeat every 0.25 s (default 5 s): every
        # assignment change travels in heartbeats, so a handover takes a few of them (docs/faults.md). A lab's
        # failover should take seconds. The minimums bound what a group may set; both protocols are served.
        "group.coordinator.rebalance.protocols": "classic,consumer",
        "group.consumer.session.timeout.ms": "2500",
        "group.consumer.min.session.timeout.ms": "2000",
        "group.consumer.heartbeat.interval.ms": "250",
        "group.consumer.min.heartbeat.interval.ms": "250",
        "group.consumer.assignors": "uniform,range",
        **SHARE_GROUP_SETTINGS,
        # classic groups ask for their own session timeout (labkit.kafka.worker: 2.5 s); admit down to 2 s
        "group.min.session.timeout.ms": "2000",
        # a killed broker is fenced (its partitions get new leaders) after 2.5 s without a heartbeat, not 9 s
        "broker.session.timeout.ms": "2500",
        "broker.heartbeat.interval.ms": "500",
        "auto.create.topics.enable": "false",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "2",
        # Four fetcher threads per source broker, each with a quarter of the partitions: a delayed follower
        # fetch is re-checked on every append to any of its partitions, at a cost that grows with their number
        # (the profile: DelayedFetch.tryComplete, docs/benchmark.md, "Why these settings").
        "num.replica.fetchers": "4",
        "log.retention.hours": "24",
        # Retention is enforced by a periodic check (default every 5 min): a lab's topic with retention.ms of a
        # few seconds (notebook 08) should see its log start offset move within seconds, not minutes.
        "log.retention.check.interval.ms": "5000",
        # The log cleaner looks for a compacted partition to clean every 15 s by default when it finds none: a
        # lab's compacted topic (notebook 10) should be cleaned within a few seconds of its segment rolling.
        "log.cleaner.backoff.ms": "1000",
    }


def write_config(spec: BrokerSpec, voters: list[BrokerSpec], overrides: Mapping[str, str] | None = None) -> None:
    properties = {**broker_properties(spec, voters), **(overrides or {})}
    lines = [f"{key}={value}" for key, value in properties.items()]
    spec.config_file.parent.mkdir(parents=True, exist_ok=True)
    spec.config_file.write_text("# written by labkit cluster up\n" + "\n".join(lines) + "\n")


def java_command(
    java: Path, classpath: str, main: str, *args: str, jvm_options: tuple[str, ...] = JVM_OPTIONS
) -> list[str]:
    log_config = services_dir() / "kafka" / "log4j2.properties"
    return [str(java), *jvm_options, f"-Dlog4j2.configurationFile={log_config}", "-cp", classpath, main, *args]


def is_formatted(spec: BrokerSpec) -> bool:
    return (spec.data_dir / "meta.properties").is_file()


def format_command(
    spec: BrokerSpec, java: Path, classpath: str, cluster_id: str, jvm_options: tuple[str, ...] = JVM_OPTIONS
) -> list[str]:
    return java_command(
        java,
        classpath,
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={cluster_id}",  # one argument: a random id may start with '-' and read as an option
        "-c",
        str(spec.config_file),
        "--ignore-formatted",
        jvm_options=jvm_options,
    )


# A format runs for under a second: C1 alone compiles what it needs (0.5 s against 0.8 s with the cache here).
FORMAT_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)


def format_storage(
    specs: list[BrokerSpec], java: Path, classpath: str, cluster_id: str, jvm_options: tuple[str, ...] = JVM_OPTIONS
) -> None:
    """Run the storage tool for every unformatted node, all at once (one JVM start each; with the brokers' AOT
    cache among `jvm_options`, its classes come loaded)."""
    procs = [
        (
            spec,
            subprocess.Popen(
                format_command(spec, java, classpath, cluster_id, (*jvm_options, *FORMAT_JVM_OPTIONS)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
        for spec in specs
        if not is_formatted(spec)
    ]
    failures = []
    for spec, proc in procs:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"node {spec.node_id}: " + " | ".join(out.strip().splitlines()[-3:]))
    if failures:
        raise ClusterError("formatting KRaft storage failed: " + "; ".join(failures))


# Brokers run at a lower CPU priority than everything else of the lab. On 2 cores the three JVMs otherwise take
# most of the CPU in many small requests, and the single-threaded Redis that every booking waits on was
# descheduled for tens of ms. At nice 10 bookings flowed faster with half the brokers' CPU: they batch more
# when they wait a little (figures: docs/benchmark.md, "Why these settings").
BROKER_NICENESS = 10


def start_command(
    spec: BrokerSpec,
    java: Path,
    classpath: str,
    jvm_options: tuple[str, ...] = JVM_OPTIONS,
    run_in: Sequence[str] = (),
) -> list[str]:
    """`run_in`: a prefix that runs the broker elsewhere (`ip netns exec <namespace>`); it execs, so the pid
    started is the broker's."""
    java_main = java_command(java, classpath, "kafka.Kafka", str(spec.config_file), jvm_options=jvm_options)
    return [*run_in, "nice", "-n", str(BROKER_NICENESS), *java_main]


def lines_since(log: Path, offset: int) -> list[str]:
    """The lines written to `log` after `offset` bytes: what one start wrote, the log keeps every earlier run."""
    if not log.is_file():
        return []
    with log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace").strip().splitlines()


def why_it_stopped(lines: list[str], shown: int = 8) -> list[str]:
    """What a broker's log says about why it stopped: the lines that name a cause (errors, a fatal exception, a
    signal received), then the last lines. The last lines alone only show the orderly shutdown that follows."""
    markers = (" ERROR ", " FATAL ", "Exception", "due to signal", "Error:")  # not "Registered signal handlers"
    causes = [line for line in lines if any(m in line for m in markers)][:shown]
    return [*causes, "…", *lines[-3:]] if causes else lines[-shown:]
