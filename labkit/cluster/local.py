"""The embedded cluster: N Kafka KRaft brokers and one Redis-protocol server, as processes on 127.0.0.1 (or each
broker in a network namespace of its own, `network=NAMESPACES`, so that links between them can be cut).

State (broker data, config, pid file, logs) lives in one folder, `home` (default `.labkit/` in the checkout).
The processes outlive the command that started them; `down()` stops them and frees their ports.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import redis
from confluent_kafka import KafkaException

from labkit.cluster import broker as kafka_broker
from labkit.cluster import network as net
from labkit.cluster import redis_server
from labkit.cluster.faults import ClusterFaults
from labkit.cluster.jars import ensure_classpath, kafka_version
from labkit.cluster.java import find_java
from labkit.cluster.processes import claim_ports, how_it_ended, is_running, port_is_free, start_detached, stop
from labkit.cluster.registry import SchemaRegistryServer
from labkit.cluster.state import (
    CONTROLLER_PORT_OFFSET,
    DEFAULT_KAFKA_PORT,
    DEFAULT_REDIS_PORT,
    MEMORY_FS,
    BrokerState,
    BrokerStatus,
    ClusterState,
    ClusterStatus,
    check_layout,
    kafka_data_root,
    partial_outage,
)
from labkit.cluster.warm_start import TRAINER_STOP_TIMEOUT, WarmStart, keep_trained_cache
from labkit.cluster.warmup import WarmUp
from labkit.errors import ClusterError, ConfigError
from labkit.kafka.admin import Admin
from labkit.polling import wait_until
from labkit.settings import java_home_from_env
from labkit.store.client import connect_redis

log = logging.getLogger(__name__)


class LocalCluster(WarmStart, ClusterFaults):
    """Start, inspect and stop the embedded cluster kept under `home`."""

    def __init__(self, home: Path, tuning: kafka_broker.BrokerTuning | None = None) -> None:
        self.tuning = tuning or kafka_broker.BrokerTuning()
        self.last_warmup: WarmUp | None = None
        self._log_start: dict[int, int] = {}  # node id → the size of its log when `up` last started it
        self.home = Path(home).absolute()  # the process markers hold this path: one spelling per home
        # where the brokers keep their data and config files: in memory (`/dev/shm`) where the machine has it;
        # decided once, so that `up` and `down --wipe` agree
        self.kafka_dir = kafka_data_root(self.home)
        self.network = net.BrokerNetwork.for_home(self.home)  # used only by a cluster started with NAMESPACES

    # -- state -------------------------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "cluster.json"

    def load(self) -> ClusterState | None:
        if not self.state_file.is_file():
            return None
        raw = json.loads(self.state_file.read_text())
        raw["brokers"] = [BrokerState(**b) for b in raw["brokers"]]
        return ClusterState(**raw)

    def _save(self, state: ClusterState) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        tmp.replace(self.state_file)

    def _spec(self, b: BrokerState) -> kafka_broker.BrokerSpec:
        return kafka_broker.BrokerSpec(
            b.node_id, b.port, b.controller_port, self.kafka_dir / f"node-{b.node_id}", host=b.host
        )

    def segment_files(self, topic: str, partition: int, node_id: int) -> list[Path]:
        """The log segments (`<base offset>.log`, oldest first) of one partition's replica on one broker: what
        `kafka-dump-log --files` reads."""
        state = self._known_state()
        brokers = {b.node_id: b for b in state.brokers}
        if node_id not in brokers:
            raise ConfigError(f"node_id must be one of {sorted(brokers)}, got {node_id!r}")
        folder = self._spec(brokers[node_id]).data_dir / f"{topic}-{partition}"
        if not folder.is_dir():
            raise ConfigError(f"broker {node_id} holds no replica of {topic}[{partition}] (no {folder})")
        return sorted(folder.glob("*.log"))

    def _redis_dir(self) -> Path:
        return self.home / "redis"

    def _redis_marker(self, state: ClusterState) -> str:
        return f"{kafka_broker.HOST}:{state.redis_port}"

    def log_file(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def up(
        self,
        brokers: int = 3,
        kafka_port: int = DEFAULT_KAFKA_PORT,
        redis_port: int = DEFAULT_REDIS_PORT,
        timeout: float = 120.0,
        warm: bool = False,
        progress: Callable[[str], None] | None = None,
        network: str | None = None,
        train: bool | None = None,
    ) -> tuple[ClusterState, bool]:
        """Start whatever is not running and wait until all N brokers serve. Returns (state, started_anything).

        A cluster that already runs is returned as it is: `up` twice never starts a second one. With `warm`,
        brokers it started are warmed up before it returns (`cluster.warmup`; `last_warmup` says how it went,
        `progress` gets a line per window); a warm start from nothing also records the brokers' AOT cache if none
        exists (`train`, default `warm`; cluster/warm_start.py). `network`: LOOPBACK (all on 127.0.0.1) or
        NAMESPACES (each broker on an address of its own, for `labkit chaos`); None keeps the recorded cluster's,
        LOOPBACK for a new one.
        """
        check_layout(brokers, kafka_port, redis_port)
        if network is not None and network not in net.NETWORKS:
            raise ConfigError(f"network must be one of {', '.join(net.NETWORKS)}, got {network!r}")
        if network == net.NAMESPACES and (missing := net.why_unavailable()):
            raise ClusterError(f"cannot give the brokers namespaces of their own: {missing}")
        state = self._state_for(brokers, kafka_port, redis_port, network or net.LOOPBACK)
        if network is not None and state.network != network:
            raise ClusterError(
                f"{self.home} holds a cluster on the {state.network} network; "
                f"`labkit cluster down --wipe` to start afresh on {network}"
            )
        status = self.status(state)
        if status.running:
            return state, False
        dead = [b for b, s in zip(state.brokers, status.brokers, strict=True) if not s.alive]
        self._claim_ports(state, dead, redis=not status.redis_alive)
        self._start(state, dead, redis=not status.redis_alive, train=warm if train is None else train)
        try:
            self._wait_ready(state, timeout)
        except ClusterError as error:
            raise self._cache_suspected(error) from error
        self._check_cache(dead)
        if warm and dead:
            self._warm(state, progress or (lambda _: None))
        return state, True

    def _state_for(self, brokers: int, kafka_port: int, redis_port: int, network: str) -> ClusterState:
        """The recorded cluster if it has `brokers` brokers, a new one if none is recorded; ClusterError if the
        recorded one has another size (running: stop it first; stopped: wipe its data first)."""
        state = self.load()
        if state is None:
            return self._new_state(brokers, kafka_port, redis_port, network)
        if len(state.brokers) != brokers:
            status = self.status(state)
            if status.running or any(b.alive for b in status.brokers):
                raise ClusterError(
                    f"a {len(state.brokers)}-broker cluster already runs from {self.home}; "
                    f"`labkit cluster down` first to start one with {brokers}"
                )
            raise ClusterError(
                f"{self.home} holds the data of a {len(state.brokers)}-broker cluster; "
                f"`labkit cluster down --wipe` to start afresh with {brokers} broker(s)"
            )
        return state

    def _claim_ports(self, state: ClusterState, dead: list[BrokerState], redis: bool) -> None:
        """ClusterError if a port of what is about to start is taken; a warning for ports in the ephemeral range."""
        on_loopback = [b for b in dead if b.host == kafka_broker.HOST]  # a namespace's ports are its own
        ports = {f"broker {b.node_id}": b.port for b in on_loopback}
        ports.update({f"controller {b.node_id}": b.controller_port for b in on_loopback})
        if redis:
            ports["redis"] = state.redis_port
        claim_ports(ports)

    def _start(self, state: ClusterState, dead: list[BrokerState], redis: bool, train: bool = False) -> None:
        """Write every broker's config, format the storage of those never formatted, start the dead brokers (and
        Redis) detached, and record their pids. They map the AOT cache, or one records it (cluster/warm_start.py)."""
        java = self.tuning.java or find_java(java_home_from_env())
        classpath = ensure_classpath(self.home)
        self._plan_cache(java, classpath, state, dead, train)
        specs = [self._spec(b) for b in state.brokers]
        for spec in specs:
            kafka_broker.write_config(spec, specs, self.tuning.properties)
        kafka_broker.format_storage(specs, java, classpath, state.cluster_id, self._jvm_options())
        namespaced = state.network == net.NAMESPACES
        if namespaced:
            net.create(self.network, [b.node_id for b in state.brokers])
        for b in dead:
            log_path = self.log_file(f"broker-{b.node_id}")
            self._log_start[b.node_id] = log_path.stat().st_size if log_path.is_file() else 0
            run_in = self.network.run_in(b.node_id) if namespaced else []
            options = self._jvm_options(b.node_id)
            command = kafka_broker.start_command(self._spec(b), java, classpath, options, run_in)
            b.pid = start_detached(command, log_path)
        if redis:
            self._redis_dir().mkdir(parents=True, exist_ok=True)
            state.redis_pid = start_detached(
                redis_server.start_command(state.redis_port, self._redis_dir()), self.log_file("redis")
            )
        state.started_at = time.time()
        self._save(state)

    def up_from_nothing(self, brokers: int, progress: Callable[[str], None], network: str | None = None) -> bool:
        """`up(brokers, warm=True)`, saying how the warm-up went; True only if nothing of the cluster was alive
        before: a broker restarted after a crash (notebook 07's) belongs to a cluster someone else started."""
        state = self.load()
        was_alive = state is not None and self.status(state).anything_alive
        _, started = self.up(brokers=brokers, warm=True, progress=progress, network=network)
        if self.last_warmup is not None:
            progress(f"brokers {self.last_warmup}")
        return started and not was_alive

    def _new_state(self, brokers: int, kafka_port: int, redis_port: int, network: str) -> ClusterState:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]

        def host(node_id: int) -> str:
            return self.network.address(node_id) if network == net.NAMESPACES else kafka_broker.HOST

        return ClusterState(
            cluster_id=cluster_id,
            kafka_version=kafka_version(),
            brokers=[
                BrokerState(i + 1, kafka_port + i, kafka_port + CONTROLLER_PORT_OFFSET + i, host=host(i + 1))
                for i in range(brokers)
            ],
            redis_port=redis_port,
            network=network,
        )

    def start_brokers(self, node_ids: Sequence[int], timeout: float = 120.0) -> list[int]:
        """Start these brokers if they are down, from their data, and wait until each is registered again; the
        rest of the cluster (another broker killed on purpose, Redis) is left as it is. Returns the ones started."""
        state = self._known_state()
        status = {b.node_id: b.alive for b in self.status(state).brokers}
        unknown = sorted(set(node_ids) - set(status), key=str)
        if unknown:
            raise ConfigError(f"node_ids must be among {sorted(status)}, got {unknown}")
        dead = [b for b in state.brokers if b.node_id in node_ids and not status[b.node_id]]
        if dead:
            self._claim_ports(state, dead, redis=False)
            self._start(state, dead, redis=False)
            try:
                self._wait_ready(state, timeout, {b.node_id for b in dead}, with_redis=False)
            except ClusterError as error:
                raise self._cache_suspected(error) from error
            self._check_cache(dead)
        return [b.node_id for b in dead]

    def _wait_ready(
        self, state: ClusterState, timeout: float, expected: set[int] | None = None, with_redis: bool = True
    ) -> None:
        """Wait until Redis answers PING and the `expected` brokers (default: all) are registered in the
        cluster's metadata."""
        expected = expected or {b.node_id for b in state.brokers}
        admin = Admin(state.bootstrap_servers, client_id="labkit-cluster-up", connect_timeout=2.0)

        def brokers_registered() -> bool:
            self._raise_if_died(state, expected)
            try:
                return expected <= set(admin.client.list_topics(timeout=2).brokers)
            except (ClusterError, KafkaException):  # not reachable yet: its first listing failed, or this one
                return False

        client = connect_redis(state.redis_url, connect_timeout=1.0)

        def redis_answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            if with_redis:
                redis_wanted = f"Redis on port {state.redis_port} (log: {self.log_file('redis')})"
                wait_until(redis_answers, timeout, redis_wanted)
            brokers_wanted = f"brokers {sorted(expected)} to register (logs: {self.home / 'logs'})"
            wait_until(brokers_registered, timeout, brokers_wanted)
        finally:
            client.close()
            admin.close()

    def _raise_if_died(self, state: ClusterState, started: set[int]) -> None:
        for b in state.brokers:
            if b.node_id in started and not self._still_running(b):
                log = self.log_file(f"broker-{b.node_id}")
                lines = kafka_broker.lines_since(log, self._log_start.get(b.node_id, 0))
                ended = how_it_ended(b.pid) if b.pid else ""
                raise ClusterError(
                    f"broker {b.node_id} exited during start-up ({ended or 'how is unknown'}); {log} says:\n"
                    + "\n".join(kafka_broker.why_it_stopped(lines))
                )

    def _still_running(self, b: BrokerState) -> bool:
        """A JVM that has just started may re-execute itself, and for that instant /proc shows no command line:
        a broker counts as dead only if it is still not seen a moment later."""
        marker = self._spec(b).marker
        if is_running(b.pid, marker):
            return True
        time.sleep(0.5)  # a debounce of the /proc reading, not a wait for the broker
        return is_running(b.pid, marker)

    def down(self, wipe: bool = False, timeout: float = 30.0) -> list[str]:
        """Stop every process, the schema registry's too (SIGTERM, then SIGKILL after `timeout` s); `wipe` also
        deletes the data. Returns the names of processes that had to be killed."""
        state = self.load()
        killed: list[str] = []
        SchemaRegistryServer(self.home).down(timeout)  # started on demand, stopped with the rest
        if state is not None:
            markers = {b.pid: self._spec(b).marker for b in state.brokers if b.pid}
            if state.redis_pid:
                markers[state.redis_pid] = self._redis_marker(state)
            # the ports of what runs now: freed once it has stopped (a process lets go of them last)
            ports = [  # a namespaced broker's ports go with its namespace
                p
                for b in state.brokers
                if b.host == kafka_broker.HOST and is_running(b.pid, self._spec(b).marker)
                for p in (b.port, b.controller_port)
            ]
            if is_running(state.redis_pid, self._redis_marker(state)):
                ports.append(state.redis_port)
            # a broker recording the AOT cache writes it as it exits (≈ 9 s more here): give it the time
            wait = max(timeout, TRAINER_STOP_TIMEOUT) if state.aot_training else timeout
            for pid in stop(list(markers), lambda pid: markers[pid], wait):
                killed.append("redis" if pid == state.redis_pid else f"broker pid {pid}")
            for b in state.brokers:
                b.pid = None
            state.redis_pid = None
            keep_trained_cache(state, complete=not any(k.startswith("broker") for k in killed))
            self._save(state)
            wait_until(lambda: all(port_is_free(p) for p in ports), 15.0, f"the cluster's ports {ports} to be free")
            if state.network == net.NAMESPACES:
                net.destroy(self.network, [b.node_id for b in state.brokers])
        if wipe and self.kafka_dir.exists():
            shutil.rmtree(self.kafka_dir)
            if self.kafka_dir.parent.parent == MEMORY_FS:  # the home's own folder in memory: leave nothing
                with contextlib.suppress(OSError):
                    self.kafka_dir.parent.rmdir()
        if wipe and self.home.exists():
            for name in ("kafka", "redis", "cluster.json"):
                target = self.home / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        return killed

    def _known_state(self) -> ClusterState:
        state = self.load()
        if state is None:
            raise ClusterError(f"no embedded cluster in {self.home}: start one with `labkit cluster up`")
        return state

    # -- inspection --------------------------------------------------------------------------------------------
    def status(self, state: ClusterState | None = None) -> ClusterStatus:
        state = state or self._known_state()
        brokers = [
            BrokerStatus(b.node_id, b.address, b.pid, is_running(b.pid, self._spec(b).marker)) for b in state.brokers
        ]
        return ClusterStatus(
            brokers=brokers,
            redis_port=state.redis_port,
            redis_pid=state.redis_pid,
            redis_alive=is_running(state.redis_pid, self._redis_marker(state)),
            bootstrap_servers=state.bootstrap_servers,
            redis_url=state.redis_url,
            kafka_version=state.kafka_version,
        )

    def running_state(self) -> ClusterState:
        """The state of a cluster of which something runs; ClusterError telling how to start one otherwise.

        A partial outage (a broker or Redis killed in an experiment) is named in a warning, not refused: the
        survivors serve, and a learner must be able to look at the ISRs while a broker is down.
        """
        state = self.load()
        status = None if state is None else self.status(state)
        if state is None or status is None or not status.anything_alive:
            raise ClusterError(
                f"the embedded cluster in {self.home} is not running: start it with `labkit cluster up` "
                "or set KAFKA_BOOTSTRAP_SERVERS and REDIS_URL to use another cluster"
            )
        if status.dead:
            log.warning("%s", partial_outage(self.home, status.dead))
        return state
