"""Warming the brokers up and streaming through the plain pipe during an action, on the real test cluster."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from labkit.cluster.local import LocalCluster
from labkit.cluster.state import ClusterState
from labkit.cluster.warmup import compiled_between, compiler_cpu_seconds, warm_up
from labkit.kafka.admin import Admin
from labkit.kafka.topics import list_topics
from labkit.measurement.pipe import PlainPipe
from labkit.polling import poll

pytestmark = pytest.mark.integration


def broker_pids(home: Path) -> list[int]:
    """The brokers' pids now: the fault tests and notebook 07 restart brokers after the session's cluster started."""
    return [b.pid for b in LocalCluster(home).status().brokers if b.pid and b.alive]


def test_the_brokers_compiler_threads_are_found(cluster: ClusterState, cluster_home: Path) -> None:
    pids = broker_pids(cluster_home)
    assert len(pids) == 3
    by_thread = compiler_cpu_seconds(pids)
    assert by_thread and sum(by_thread.values()) > 0  # every JVM compiles Kafka's start-up code
    assert compiler_cpu_seconds([]) == {}
    assert compiled_between({}, by_thread) == sum(by_thread.values())
    assert compiled_between(by_thread, by_thread) == 0


def test_a_warm_up_runs_the_pipe_in_windows_and_reports_each(
    cluster: ClusterState, cluster_home: Path, admin: Admin
) -> None:
    lines: list[str] = []
    pids = broker_pids(cluster_home)
    result = warm_up(cluster.bootstrap_servers, pids, progress=lines.append, limit=1.0)  # one window, then stop
    assert result.windows == 1 and len(lines) == 1, lines
    assert lines[0].startswith("warming up the brokers:") and "p99" in lines[0]
    assert math.isfinite(result.p99_ms) and result.compiler_cores >= 0
    assert not result.settled, "one window cannot make two warm windows in a row"
    assert str(result).startswith("not yet warm after")

    def left() -> list[str]:
        return [t for t in list_topics(admin) if t.startswith("plain-pipe-")]

    # The controller has deleted them when the warm-up returns; the broker that answers the metadata request
    # learns it from the metadata log a moment later.
    assert poll(lambda: not left(), timeout=30), f"the warm-up's topics were not deleted: {left()}"


def test_a_stream_during_an_action_times_the_action_and_raises_its_error(cluster: ClusterState, admin: Admin) -> None:
    with PlainPipe(cluster.bootstrap_servers, partitions=2, forwarders=1, sinks=1) as pipe:
        topic = f"{pipe.topics[0]}-extra"

        def create() -> None:
            for future in admin.client.create_topics([NewTopic(topic, 3, 3)]).values():
                future.result(30)

        try:
            starts, ends, took = pipe.open_loop_during(create, rate=20, seconds=1)
            assert len(starts) == 20 and None not in ends
            assert took > 0 and topic in list_topics(admin)
        finally:
            for future in admin.client.delete_topics([topic]).values():
                future.result(30)

        def fail() -> None:
            raise ValueError("the action failed")

        with pytest.raises(ValueError, match="the action failed"):
            pipe.open_loop_during(fail, rate=20, seconds=1)
