"""`labkit chaos` on a cluster whose brokers live in network namespaces of their own: a broker isolated from its
peers is fenced while clients still reach it, one isolated from everyone is unreachable, a cut link drops
packets both ways, pauses and kills are undone after their duration, and `heal` undoes everything.

The namespaced cluster is started for this module and stopped (wiped) after it: ports 39092-39094, Redis 36379.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from labkit.cluster import network as net
from labkit.cluster.local import LocalCluster
from labkit.cluster.processes import state as process_state
from labkit.cluster.state import ClusterState
from labkit.domain.naming import KafkaTopicBuilder
from labkit.errors import ClusterError, ConfigError
from labkit.exercises import partition_safety
from labkit.experiments.chaos import Chaos
from labkit.experiments.fault_check import Step, full_schedule, run_check
from labkit.lab import Lab
from labkit.polling import wait_until
from labkit.services import event_topics
from labkit.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.faults]

HOME_NAME = "namespaced"
KAFKA_PORT, REDIS_PORT = 39092, 36379


@pytest.fixture(scope="module")
def namespaced(cluster_home: Path) -> Iterator[LocalCluster]:
    if missing := net.why_unavailable():
        pytest.skip(f"no network namespaces here: {missing}")
    local = LocalCluster(cluster_home.parent / HOME_NAME)
    local.down(wipe=True)  # a run cut short may have left one
    local.up(brokers=3, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT, network=net.NAMESPACES)
    yield local
    local.down(wipe=True)
    assert net.leftovers(local.network) == [], "the namespaces or the bridge outlived the cluster"


@pytest.fixture
def chaos(namespaced: LocalCluster) -> Iterator[Chaos]:
    chaos = Chaos(Settings.from_env({"LABKIT_HOME": str(namespaced.home)}))
    yield chaos
    chaos.close()
    chaos.heal()  # whatever a failed test left: the next one starts whole
    assert chaos.in_force() == []
    wait_until_whole(namespaced)


def state_of(local: LocalCluster) -> ClusterState:
    state = local.load()
    assert state is not None
    return state


def registered_everywhere(local: LocalCluster, through: tuple[int, ...] = (1, 2, 3)) -> set[int]:
    """The brokers that each broker in `through` lists in its own metadata (a broker back from a partition
    re-registers seconds after the heal, and until it catches up its own view is stale); empty while one of them
    does not answer."""
    views = []
    for broker in [b for b in state_of(local).brokers if b.node_id in through]:  # asked first: the bootstrap
        try:
            views.append(set(AdminClient({"bootstrap.servers": broker.address}).list_topics(timeout=5).brokers))
        except KafkaException:
            return set()
    return set.intersection(*views)


def wait_until_whole(local: LocalCluster) -> None:
    wanted = {1, 2, 3}
    wait_until(lambda: registered_everywhere(local) == wanted, 60, "every broker registered again", interval=0.5)


def topic_with_replicas_everywhere(local: LocalCluster, name: str) -> AdminClient:
    admin = AdminClient({"bootstrap.servers": state_of(local).bootstrap_servers})
    for future in admin.create_topics([NewTopic(name, 6, 3)]).values():
        future.result(30)
    return admin


def isrs(local: LocalCluster, topic: str, through: list[int]) -> dict[int, set[int]]:
    """Each partition's ISR as the brokers `through` report it (an isolated broker's own view is stale)."""
    state = state_of(local)
    bootstrap = ",".join(b.address for b in state.brokers if b.node_id in through)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    return {p: set(m.isrs) for p, m in partitions.items()}


def connects(address: str, port: int, inside: int | None = None, net_of: net.BrokerNetwork | None = None) -> bool:
    """Whether a TCP connection to address:port opens within 2 s, from this namespace or broker `inside`'s."""
    if inside is None:
        try:
            socket.create_connection((address, port), timeout=2).close()
            return True
        except OSError:
            return False
    assert net_of is not None
    probe = f"import socket; socket.create_connection(({address!r}, {port}), timeout=2).close()"
    return subprocess.run([*net_of.run_in(inside), sys.executable, "-c", probe], capture_output=True).returncode == 0


def test_a_broker_cut_off_from_its_peers_is_fenced_while_clients_still_reach_it(
    namespaced: LocalCluster, chaos: Chaos
) -> None:
    topic_with_replicas_everywhere(namespaced, "chaos-partial")
    wait_until(lambda: all(isr == {1, 2, 3} for isr in isrs(namespaced, "chaos-partial", [2, 3]).values()), 30, "ISRs")

    fault = chaos.isolate(1, "peers")
    assert fault.action == "isolate" and "broker 1 ↔ broker 2" in fault.detail and "broker 1 ↔ broker 3" in fault.detail
    assert namespaced.cut_links() == {frozenset((1, 2)), frozenset((1, 3))}
    assert chaos.in_force() == ["link broker 1 ↔ broker 2 is cut", "link broker 1 ↔ broker 3 is cut"]
    # the majority's controller fences it (no heartbeat for broker.session.timeout.ms) and drops it from every ISR
    wait_until(
        lambda: all(1 not in isr for isr in isrs(namespaced, "chaos-partial", [2, 3]).values()), 30, "broker 1 fenced"
    )
    broker_1 = state_of(namespaced).brokers[0]
    assert connects(broker_1.host, broker_1.port)  # the partial partition: clients still reach it
    assert not connects(namespaced.network.address(2), broker_1.port + 1, inside=1, net_of=namespaced.network)

    healed = chaos.heal()
    assert [f.action for f in healed] == ["heal"] and chaos.in_force() == []
    wait_until(
        lambda: all(isr == {1, 2, 3} for isr in isrs(namespaced, "chaos-partial", [1, 2, 3]).values()),
        60,
        "broker 1 back in every ISR",
    )


def test_a_broker_isolated_from_everyone_is_unreachable_until_healed(namespaced: LocalCluster, chaos: Chaos) -> None:
    broker_3 = state_of(namespaced).brokers[2]
    assert connects(broker_3.host, broker_3.port)
    chaos.isolate(3, "everyone", duration=30)
    assert frozenset((3, net.CLIENTS)) in namespaced.cut_links()
    assert not connects(broker_3.host, broker_3.port)
    undone = chaos.close()  # ends the fault before its 30 s: what a notebook's teardown does
    assert [f.action for f in undone] == ["heal"]
    assert connects(broker_3.host, broker_3.port) and namespaced.cut_links() == set()


def test_one_cut_link_drops_packets_both_ways_and_heals(namespaced: LocalCluster, chaos: Chaos) -> None:
    network, port = namespaced.network, KAFKA_PORT
    chaos.cut(1, 2)
    assert not connects(network.address(2), port + 1, inside=1, net_of=network)
    assert not connects(network.address(1), port, inside=2, net_of=network)
    assert connects(network.address(3), port + 2, inside=1, net_of=network)  # only that link
    # an isolation made on top cuts, and when it ends restores, only the links it cut
    fault = chaos.isolate(1, "peers", duration=60)
    assert "cut broker 1 ↔ broker 3;" in fault.detail and "broker 1 ↔ broker 2" not in fault.detail
    chaos.close()
    assert namespaced.cut_links() == {frozenset((1, 2))}
    chaos.heal()
    assert connects(network.address(2), port + 1, inside=1, net_of=network)


def test_a_pause_and_a_kill_are_undone_after_their_duration(namespaced: LocalCluster, chaos: Chaos) -> None:
    pid = state_of(namespaced).brokers[1].pid or 0
    fault = chaos.pause(2, duration=1)
    assert process_state(pid) == "T" and "to be undone in 1 s" in fault.detail
    assert chaos.in_force() == ["broker 2 is paused (SIGSTOP)"]
    chaos.wait()
    assert process_state(pid) in ("S", "R") and chaos.in_force() == []

    chaos.kill(2, duration=1)
    assert chaos.in_force() == ["broker 2 is down"]
    chaos.wait()
    assert namespaced.status().running and state_of(namespaced).brokers[1].pid != pid
    actions = [(f.action, f.target) for f in chaos.history(4)]
    assert actions == [("pause", "broker 2"), ("resume", "broker 2"), ("kill", "broker 2"), ("restart", "broker 2")]


def test_what_cannot_be_done_is_refused_with_the_reason(
    namespaced: LocalCluster, chaos: Chaos, cluster: ClusterState, cluster_home: Path
) -> None:
    try:
        chaos.slow(1, 100)
    except ClusterError as error:  # this machine's kernel has no sch_netem
        assert "the kernel has no netem queueing discipline" in str(error) and "tc qdisc" in str(error)
    else:  # a kernel with netem: the delay is in broker 1's queueing discipline
        shown = subprocess.run([*namespaced.network.run_in(1), "tc", "qdisc", "show"], capture_output=True, text=True)
        assert "netem" in shown.stdout and "delay 100" in shown.stdout
    finally:
        namespaced.remove_latency(1)
    with pytest.raises(ConfigError, match=r"must be one of \[1, 2, 3\] or 'clients', got 7"):
        chaos.cut(1, 7)
    with pytest.raises(ConfigError, match="isolate from must be one of peers, everyone"):
        chaos.isolate(1, "half")
    loopback = Chaos(Settings.from_env({"LABKIT_HOME": str(cluster_home)}))  # the test cluster, on 127.0.0.1
    with pytest.raises(ClusterError, match=r"share 127\.0\.0\.1: no link between them can be cut"):
        loopback.cut(1, 2)
    outsider = Settings.from_env({"LABKIT_HOME": str(cluster_home), "KAFKA_BOOTSTRAP_SERVERS": "10.0.0.1:9092"})
    with pytest.raises(ClusterError, match="a cluster labkit did not start"):
        Chaos(outsider)


def test_an_event_waits_for_a_broker_rejoining_and_names_one_that_does_not(
    namespaced: LocalCluster, chaos: Chaos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused broker runs but drops out of the metadata: an event's topics wait for it (REJOIN_TIMEOUT), then
    refuse, naming it; resumed, it registers again, and the event gets its three replicas."""
    chaos.pause(3)
    wait_until(lambda: registered_everywhere(namespaced, (1, 2)) == {1, 2}, 30, "broker 3 fenced", interval=0.5)
    monkeypatch.setattr(event_topics, "REJOIN_TIMEOUT", 1.0)
    with Lab(Settings.from_env({"LABKIT_HOME": str(namespaced.home)})) as lab:
        with pytest.raises(ClusterError, match=r"broker 3 \(10\.[0-9.]+:\d+\) runs but has not registered in 1 s"):
            lab.new_event()
        chaos.resume(3)
        monkeypatch.setattr(event_topics, "REJOIN_TIMEOUT", 60.0)
        event_id = lab.new_event()  # waits until broker 3 is registered again
        topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
        partitions = lab.runtime.admin.metadata().topics[topic].partitions
        assert {len(p.replicas) for p in partitions.values()} == {3}


def test_the_cli_holds_a_fault_for_its_duration_and_reports_both_ends(namespaced: LocalCluster) -> None:
    env = {**os.environ, "LABKIT_HOME": str(namespaced.home)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    done = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "chaos", "isolate", "2", "--for", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "isolate  broker 2 from peers: cut broker 1 ↔ broker 2, broker 2 ↔ broker 3" in lines[0]
    assert "heal     broker 1 ↔ broker 2, broker 2 ↔ broker 3: link(s) restored" in lines[1]
    assert namespaced.cut_links() == set()
    status = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "chaos", "status"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "in force now: nothing" in status.stdout and "isolate  broker 2 from peers" in status.stdout


@pytest.fixture
def lab_and_event(namespaced: LocalCluster) -> Iterator[tuple[Lab, int]]:
    """A Lab on the namespaced cluster with 2 + 2 consumer threads on an event of its own."""
    wait_until_whole(namespaced)  # the tests before may have left a broker re-registering
    with Lab(Settings.from_env({"LABKIT_HOME": str(namespaced.home)})) as lab:
        event_id = lab.new_event()
        lab.start_consumers(ticketing=2, seat_reservation=2, event_id=event_id)
        lab.wait_for_consumers(120)
        yield lab, event_id
        lab.stop_consumers()


def test_no_booking_told_accepted_is_lost_under_every_fault_with_labkits_settings(
    lab_and_event: tuple[Lab, int],
) -> None:
    """acks=all and min.insync.replicas=2, through a partial partition, a kill, a pause, a full isolation and a
    cut link: every booking told accepted is answered, once, and no seat is sold twice."""
    schedule = full_schedule()
    verdict = run_check(*lab_and_event, schedule, acks="all", rate=50)
    print(verdict)
    assert verdict.ok, verdict
    assert verdict.sent == 50 * 61 and verdict.acknowledged >= 0.9 * verdict.sent
    assert verdict.answered == verdict.acknowledged
    done = [(f.action, f.target) for f in verdict.faults]
    for step in schedule:  # each fault was made, and undone
        assert any(action == step.action for action, _ in done), (step, done)
    assert [action for action, _ in done].count("heal") >= 3 and ("restart", "broker 2") in done


def test_the_check_finds_what_acks_1_loses_in_a_partial_partition(lab_and_event: tuple[Lab, int]) -> None:
    """The isolated leader acknowledges with acks=1 what its successors never get; back, it truncates it."""
    verdict = run_check(*lab_and_event, [Step(2, "isolate", (1, "peers"), 8)], acks="1", rate=50)
    print(verdict)
    assert not verdict.ok and verdict.lost, verdict
    assert not verdict.unanswered and not verdict.answered_differently and not verdict.seat_problems, verdict
    assert verdict.answered + len(verdict.lost) == verdict.acknowledged == verdict.sent


@pytest.mark.timeout(600)  # three answers, each through an 8-s partition and its heal
def test_the_safe_producer_exercise_runs_each_answer_through_the_partition(lab_and_event: tuple[Lab, int]) -> None:
    lab, event_id = lab_and_event
    exercise = partition_safety.safe_producer
    assert exercise.evaluate(exercise.reference(), lab=lab, event_id=event_id).solved
    alone = exercise.evaluate({"acks": "1"}, lab=lab, event_id=event_id)
    assert not alone.solved and "are not in the log" in alone.message and "acks='1'" in alone.message, alone
    waiting = exercise.evaluate({"acks": "all", "enable.idempotence": True}, lab=lab, event_id=event_id)
    limit = f"and at most {partition_safety.REPORT_LIMIT:g} s is asked"
    assert not waiting.solved and "a record waited" in waiting.message and limit in waiting.message, waiting
