"""The KRaft controller quorum as `kafka-metadata-quorum describe --status` reports it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from labkit.cluster.broker import java_command
from labkit.cluster.java import find_java
from labkit.errors import ClusterError


def describe_quorum(bootstrap_controllers: str, classpath: str, java_home: Path | None) -> dict[str, str]:
    """LeaderId, LeaderEpoch, HighWatermark, MaxFollowerLag, CurrentVoters, … (one JVM start, ~2 s)."""
    cmd = java_command(
        find_java(java_home),
        classpath,
        "org.apache.kafka.tools.MetadataQuorumCommand",
        "--bootstrap-controller",
        bootstrap_controllers,
        "describe",
        "--status",
    )
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ClusterError(f"kafka-metadata-quorum failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return parse_quorum(result.stdout)


def parse_quorum(output: str) -> dict[str, str]:
    """`describe --status`'s `Key: value` lines as a dict."""
    status = {}
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            status[key.strip()] = value.strip()
    return status
