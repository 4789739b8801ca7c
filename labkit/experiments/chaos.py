"""Faults a learner injects into labkit's own cluster, from `labkit chaos`, `Lab.chaos` or the dashboard.

Each fault is done at once and reported (what, when, to whom); with a `duration` it is undone by itself after
that many seconds, without one it stays until undone (`resume`, `restart`, `heal`). `heal()` undoes everything.
Every report is also appended to `<home>/chaos.log`, so that `labkit chaos status` can show the history of
faults made from any process, and `in_force()` reads what holds now from the system itself (process states,
the kernel's neighbour tables), not from that log.

Network faults (isolate, cut, slow) need a cluster whose brokers have addresses of their own:
`labkit cluster up --network namespaces` (cluster/network.py).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from labkit.cluster import network as net
from labkit.cluster.local import LocalCluster
from labkit.cluster.processes import state as process_state
from labkit.errors import ClusterError, ConfigError
from labkit.services.consumer_processes import ConsumerProcess, ConsumerProcesses
from labkit.settings import Settings

ISOLATIONS = ("peers", "everyone")  # a partial partition (clients still reach it), a full one


@dataclass(frozen=True)
class Fault:
    """One thing done to the cluster: a fault or its undoing."""

    at: float  # time.time()
    action: str  # kill, restart, pause, resume, isolate, cut, slow, heal
    target: str  # "broker 2", "broker 1 ↔ broker 3", "consumer seat-reservation-1 (pid 4242)"
    detail: str

    def __str__(self) -> str:
        clock = datetime.fromtimestamp(self.at).strftime("%H:%M:%S.%f")[:-3]
        return f"{clock}  {self.action:<8} {self.target}: {self.detail}"


class Chaos:
    """Faults for the embedded cluster in `settings.home`, and the timers that undo them."""

    def __init__(self, settings: Settings) -> None:
        self.cluster = LocalCluster(settings.home)
        own = self.cluster.load()
        if settings.external and (own is None or own.bootstrap_servers != settings.kafka_bootstrap_servers):
            raise ClusterError(
                f"Kafka at {settings.kafka_bootstrap_servers} is a cluster labkit did not start: "
                "labkit breaks only its own (unset KAFKA_BOOTSTRAP_SERVERS and `labkit cluster up`)"
            )
        self.consumers = ConsumerProcesses(settings)
        self.log_file = settings.home / "chaos.log"
        self._lock = threading.Lock()
        self._pending: list[_PendingUndo] = []  # faults with a duration, not undone yet

    # -- brokers -----------------------------------------------------------------------------------------------
    def kill(self, node_id: int, duration: float | None = None) -> Fault:
        """SIGKILL a broker (a crash); with `duration`, restart it after that many seconds."""
        pid = self.cluster.kill_broker(node_id)
        fault = self._record("kill", f"broker {node_id}", f"SIGKILL pid {pid}" if pid else "was not running")
        return self._undo_after(duration, fault, self.restart)

    def restart(self) -> Fault:
        """Start every broker (and Redis) that is not running, from its data (`LocalCluster.up`)."""
        down = [b.node_id for b in self.cluster.status().brokers if not b.alive]
        state, _ = self.cluster.up(brokers=len(self.cluster.status().brokers))
        pids = {b.node_id: b.pid for b in state.brokers}
        detail = ", ".join(f"pid {pids[n]}" for n in down) if down else "all were running"
        return self._record("restart", ", ".join(f"broker {n}" for n in down) or "nothing", detail)

    def pause(self, node_id: int, duration: float | None = None) -> Fault:
        """SIGSTOP a broker: alive, holding its sockets, answering nothing (a long GC pause, a frozen VM)."""
        pids = self.cluster.pause_brokers([node_id])
        fault = self._record("pause", f"broker {node_id}", f"SIGSTOP pid {pids[0]}" if pids else "was not running")
        return self._undo_after(duration, fault, lambda: self.resume(node_id))

    def resume(self, node_id: int) -> Fault:
        pids = self.cluster.resume_brokers([node_id])
        return self._record("resume", f"broker {node_id}", f"SIGCONT pid {pids[0]}" if pids else "was not paused")

    # -- consumer processes (`labkit consumers start`) ---------------------------------------------------------
    def consumer(self, name: str) -> ConsumerProcess:
        """The running consumer process called `name` ('seat-reservation-1', 'ticketing-2')."""
        running = {f"{p.service}-{p.index}": p for p in self.consumers.list() if p.alive}
        if name not in running:
            raise ConfigError(
                f"no consumer process {name!r} runs; running: {', '.join(sorted(running)) or 'none'} "
                "(`labkit consumers start`)"
            )
        return running[name]

    def pause_consumer(self, name: str, duration: float | None = None) -> Fault:
        """SIGSTOP a consumer process: no heartbeat, no poll, until resumed (its group fences it when its
        session runs out; on waking its commits are refused and it rejoins)."""
        process = self.consumer(name)
        self.consumers.pause(process)
        fault = self._record("pause", f"consumer {name} (pid {process.pid})", "SIGSTOP")
        return self._undo_after(duration, fault, lambda: self.resume_consumer(name))

    def resume_consumer(self, name: str) -> Fault:
        process = self.consumer(name)
        self.consumers.resume(process)
        return self._record("resume", f"consumer {name} (pid {process.pid})", "SIGCONT")

    # -- the network -------------------------------------------------------------------------------------------
    def isolate(self, node_id: int, from_: str = "peers", duration: float | None = None) -> Fault:
        """Cut a broker off from the other brokers ('peers': clients still reach it, the dangerous partial
        partition) or from everyone ('everyone': the clients too)."""
        if from_ not in ISOLATIONS:
            raise ConfigError(f"isolate from must be one of {', '.join(ISOLATIONS)}, got {from_!r}")
        peers: list[net.Side] = [b.node_id for b in self.cluster.status().brokers if b.node_id != node_id]
        if from_ == "everyone":
            peers.append(net.CLIENTS)
        links = [frozenset((node_id, peer)) for peer in peers]
        self.cluster.check_link_ends(node_id)  # refuses a cluster on 127.0.0.1 before anything is cut
        for peer in peers:
            self.cluster.cut_link(node_id, peer)
        detail = "cut " + ", ".join(net.describe_link(link) for link in links)
        fault = self._record("isolate", f"broker {node_id} from {from_}", detail)
        return self._undo_after(duration, fault, lambda: self._heal_links(links))

    def cut(self, a: net.Side, b: net.Side, duration: float | None = None) -> Fault:
        """Cut one link: between two brokers, or between a broker and the clients (`CLIENTS`)."""
        self.cluster.cut_link(a, b)
        link = frozenset((a, b))
        fault = self._record("cut", net.describe_link(link), "packets dropped both ways")
        return self._undo_after(duration, fault, lambda: self._heal_links([link]))

    def slow(self, node_id: int, delay_ms: int, duration: float | None = None) -> Fault:
        """Delay everything a broker sends by `delay_ms`, where the kernel has netem (ClusterError naming what
        is missing where it does not)."""
        if not isinstance(delay_ms, int) or not 1 <= delay_ms <= 60_000:
            raise ConfigError(f"delay_ms must be an integer from 1 to 60000, got {delay_ms!r}")
        self.cluster.add_latency(node_id, delay_ms)
        fault = self._record("slow", f"broker {node_id}", f"+{delay_ms} ms on everything it sends")
        return self._undo_after(duration, fault, lambda: self._unslow(node_id))

    def _unslow(self, node_id: int) -> Fault:
        self.cluster.remove_latency(node_id)
        return self._record("heal", f"broker {node_id}", "latency removed")

    def _heal_links(self, links: list[frozenset[net.Side]]) -> Fault:
        for link in links:
            self.cluster.heal_link(*sorted(link, key=str))
        return self._record("heal", ", ".join(net.describe_link(link) for link in links), "link(s) restored")

    # -- everything --------------------------------------------------------------------------------------------
    def heal(self) -> list[Fault]:
        """Undo every fault in force, whoever made it: links restored, brokers and consumers resumed, killed
        brokers restarted. Pending timers are cancelled (their faults are healed here)."""
        self._cancel_timers()
        healed = []
        if links := sorted(self.cluster.cut_links(), key=lambda link: sorted(map(str, link))):
            healed.append(self._heal_links(links))
        healed += [self.resume(node) for node in self.cluster.paused_brokers()]
        for process in self.consumers.list():
            if process.alive and process_state(process.pid or 0) in ("T", "t"):
                healed.append(self.resume_consumer(f"{process.service}-{process.index}"))
        if any(not b.alive for b in self.cluster.status().brokers):
            healed.append(self.restart())
        return healed

    def in_force(self) -> list[str]:
        """The faults that hold now, read from the system: brokers down or paused, consumers paused, links cut."""
        status = self.cluster.status()
        paused = set(self.cluster.paused_brokers())
        found = [f"broker {b.node_id} is down" for b in status.brokers if not b.alive]
        found += [f"broker {n} is paused (SIGSTOP)" for n in sorted(paused)]
        found += [
            f"consumer {p.service}-{p.index} (pid {p.pid}) is paused (SIGSTOP)"
            for p in self.consumers.list()
            if p.alive and process_state(p.pid or 0) in ("T", "t")
        ]
        found += [
            f"link {net.describe_link(link)} is cut"
            for link in sorted(self.cluster.cut_links(), key=lambda link: sorted(map(str, link)))
        ]
        return found

    def history(self, last: int = 20) -> list[Fault]:
        """The last `last` faults and undoings recorded in this home, oldest first."""
        if not self.log_file.is_file():
            return []
        lines = self.log_file.read_text().splitlines()[-last:]
        return [Fault(**json.loads(line)) for line in lines if line.strip()]

    def wait(self) -> None:
        """Block until every fault with a duration has been undone (the CLI's `--for`)."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for undo in pending:
                undo.timer.join()

    def close(self) -> list[Fault]:
        """Undo at once what is waiting for its duration to end, and stop the timers: nothing is left running."""
        return self._cancel_timers()

    # -- records and timers ------------------------------------------------------------------------------------
    def _record(self, action: str, target: str, detail: str) -> Fault:
        fault = Fault(time.time(), action, target, detail)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.log_file.open("a") as log:
            log.write(json.dumps(asdict(fault)) + "\n")
        return fault

    def _undo_after(self, duration: float | None, fault: Fault, undo: Callable[[], Fault]) -> Fault:
        if duration is None:
            return fault
        if isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 < duration <= 3600:
            undo()
            raise ConfigError(f"duration must be a number of seconds above 0 and up to 3600, got {duration!r}")
        pending = _PendingUndo(undo)
        pending.timer = threading.Timer(duration, lambda: self._claim(pending) and pending.undo())
        pending.timer.daemon = True
        pending.timer.name = f"labkit-chaos-undo-{fault.action}"
        with self._lock:
            self._pending.append(pending)
        pending.timer.start()
        return Fault(fault.at, fault.action, fault.target, f"{fault.detail}; to be undone in {duration:g} s")

    def _claim(self, pending: _PendingUndo) -> bool:
        """True once per pending undo: for its timer or for `close`, whichever comes first."""
        with self._lock:
            if pending not in self._pending:
                return False
            self._pending.remove(pending)
            return True

    def _cancel_timers(self) -> list[Fault]:
        with self._lock:
            pending = list(self._pending)
        undone = []
        for undo in pending:
            undo.timer.cancel()
            if self._claim(undo):
                with contextlib.suppress(ClusterError):  # a broker killed meanwhile: nothing to undo there
                    undone.append(undo.undo())
        for undo in pending:
            undo.timer.join()
        return undone


class _PendingUndo:
    """A fault's undoing, due when its timer fires."""

    def __init__(self, undo: Callable[[], Fault]) -> None:
        self.undo = undo
        self.timer = threading.Timer(0, lambda: None)  # replaced before it starts
