"""The faults the embedded cluster can be put through: brokers killed or paused (SIGKILL, SIGSTOP), Redis killed,
and, for a cluster started with network=NAMESPACES, links between brokers (or a broker and the clients) cut and
slowed. Mixed into LocalCluster, whose state it reads; `labkit.experiments.chaos` reports and times them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from labkit.cluster import broker as kafka_broker
from labkit.cluster import network as net
from labkit.cluster.processes import is_paused, kill_now, pause, resume
from labkit.cluster.state import BrokerState, ClusterState
from labkit.errors import ClusterError, ConfigError


class ClusterFaults:
    """Faults, for the fault tests, notebooks 06 and 07 and `labkit chaos`; `LocalCluster.up()` restarts what was
    killed."""

    home: Path
    network: net.BrokerNetwork

    def _known_state(self) -> ClusterState:
        raise NotImplementedError  # LocalCluster's

    def _spec(self, b: BrokerState) -> kafka_broker.BrokerSpec:
        raise NotImplementedError  # LocalCluster's

    def _redis_marker(self, state: ClusterState) -> str:
        raise NotImplementedError  # LocalCluster's

    def kill_broker(self, node_id: int) -> int:
        """SIGKILL one broker, as a crash would (no controlled shutdown); returns its pid. Faults add up: the
        rest of the cluster need not be running (another broker or Redis may be down already)."""
        brokers = {b.node_id: b for b in self._known_state().brokers}
        if node_id not in brokers:
            raise ConfigError(f"node_id must be one of {sorted(brokers)}, got {node_id!r}")
        broker = brokers[node_id]
        pid = broker.pid or 0
        kill_now([pid], lambda _: self._spec(broker).marker)
        return pid

    @contextlib.contextmanager
    def paused(self, node_ids: Sequence[int]) -> Iterator[list[int]]:
        """Freeze these brokers (SIGSTOP) for the block, then let them go on (SIGCONT), even if the block fails.
        A paused broker fetches nothing and answers nothing, but stays in its partitions' ISRs as long as the
        block is shorter than `broker.session.timeout.ms` (2.5 s here): the controller has not fenced it yet."""
        pids = self.pause_brokers(node_ids)
        try:
            yield pids
        finally:
            resume(pids)

    def pause_brokers(self, node_ids: Sequence[int]) -> list[int]:
        """SIGSTOP these brokers (a long GC pause, a frozen VM) until `resume_brokers`; returns the pids paused."""
        brokers = self._brokers(node_ids)
        markers = {b.pid or 0: self._spec(b).marker for b in brokers}
        return pause(list(markers), lambda pid: markers[pid])

    def resume_brokers(self, node_ids: Sequence[int]) -> list[int]:
        """SIGCONT these brokers; returns the pids of those that were paused."""
        pids = [b.pid or 0 for b in self._brokers(node_ids) if is_paused(b.pid)]
        resume(pids)
        return pids

    def paused_brokers(self) -> list[int]:
        """The node ids of the brokers that are stopped (SIGSTOP) now."""
        state = self._known_state()
        return [b.node_id for b in state.brokers if is_paused(b.pid)]

    def _brokers(self, node_ids: Sequence[int]) -> list[BrokerState]:
        brokers = {b.node_id: b for b in self._known_state().brokers}
        unknown = sorted(set(node_ids) - set(brokers), key=str)
        if unknown:
            raise ConfigError(f"node_ids must be among {sorted(brokers)}, got {unknown}")
        return [brokers[n] for n in node_ids]

    # -- network faults (a cluster started with network=NAMESPACES) ------------------------------------------------
    def namespaced_state(self) -> ClusterState:
        """The state of a cluster started with network=NAMESPACES; ClusterError saying how to get one otherwise."""
        state = self._known_state()
        if state.network != net.NAMESPACES:
            missing = net.why_unavailable()
            raise ClusterError(
                f"the brokers of the cluster in {self.home} share 127.0.0.1: no link between them can be cut. "
                + (
                    f"This machine cannot give them addresses of their own: {missing}"
                    if missing
                    else "Start it with `labkit cluster down --wipe && labkit cluster up --network namespaces`"
                )
            )
        return state

    def check_link_ends(self, *sides: net.Side) -> None:
        """ConfigError unless each side is a broker of this cluster or CLIENTS; ClusterError if it is on 127.0.0.1."""
        nodes = [b.node_id for b in self.namespaced_state().brokers]
        for side in sides:
            if side != net.CLIENTS and side not in nodes:
                raise ConfigError(f"a link's end must be one of {nodes} or {net.CLIENTS!r}, got {side!r}")

    def cut_link(self, a: net.Side, b: net.Side) -> None:
        """Drop everything between `a` and `b` (node ids, or CLIENTS: the machine's own namespace)."""
        self.check_link_ends(a, b)
        net.cut(self.network, a, b)

    def heal_link(self, a: net.Side, b: net.Side) -> None:
        self.check_link_ends(a, b)
        net.heal(self.network, a, b)

    def cut_links(self) -> set[frozenset[net.Side]]:
        """The links cut now (empty for a cluster on 127.0.0.1: none can be)."""
        state = self._known_state()
        return net.cuts(self.network, [b.node_id for b in state.brokers]) if state.network == net.NAMESPACES else set()

    def add_latency(self, node_id: int, delay_ms: int) -> None:
        self.check_link_ends(node_id)
        net.add_latency(self.network, node_id, delay_ms)

    def remove_latency(self, node_id: int) -> None:
        self.check_link_ends(node_id)
        net.remove_latency(self.network, node_id)

    def slowed_brokers(self) -> list[int]:
        """The node ids of the brokers with added latency now (none on a cluster on 127.0.0.1)."""
        state = self._known_state()
        if state.network != net.NAMESPACES:
            return []
        return [b.node_id for b in state.brokers if net.has_latency(self.network, b.node_id)]

    def kill_redis(self) -> int:
        """SIGKILL the Redis-protocol server (its append-only file is what a restart recovers from)."""
        state = self._known_state()
        pid = state.redis_pid or 0
        kill_now([pid], lambda _: self._redis_marker(state))
        return pid
