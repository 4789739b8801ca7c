"""Faults a learner injects into labkit's own cluster, from `labkit chaos`, `Lab.chaos` or the dashboard.

Each fault is done at once and reported (what, when, to whom); with a `duration` it is undone by itself after
that many seconds, without one it stays until undone (`resume`, `restart`, `heal`). `heal()` undoes every fault
in force, whoever made it.
Every report is also appended to `<home>/chaos.log`, so that `labkit chaos status` can show the history of
faults made from any process, and `in_force()` reads what holds now from the system itself (process states,
the kernel's neighbour tables), not from that log.

Network faults (isolate, cut, slow) need a cluster whose brokers have addresses of their own:
`labkit cluster up --network namespaces` (cluster/network.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from labkit.cluster import network as net
from labkit.cluster.local import LocalCluster
from labkit.cluster.processes import is_paused
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
        self._lock = threading.Lock()  # the pending undos and the log
        self._starting = threading.Lock()  # one broker start at a time (a timer's and a click's)
        self._pending: list[_PendingUndo] = []  # faults with a duration, not undone yet

    # -- brokers -----------------------------------------------------------------------------------------------
    def kill(self, node_id: int, duration: float | None = None) -> Fault:
        """SIGKILL a broker (a crash); with `duration`, restart it after that many seconds."""
        _check_duration(duration)
        pid = self.cluster.kill_broker(node_id)
        fault = self._record("kill", f"broker {node_id}", f"SIGKILL pid {pid}" if pid else "was not running")
        return self._undo_after(duration, fault, lambda: self.restart(node_id))

    def restart(self, node_id: int | None = None) -> Fault:
        """Start broker `node_id` (default: every broker that is down) from its data, and wait until it is
        registered again; nothing else is started."""
        status = self.cluster.status()
        wanted = [node_id] if node_id is not None else [b.node_id for b in status.brokers if not b.alive]
        with self._starting:
            started = self.cluster.start_brokers(wanted)
        pids = {b.node_id: b.pid for b in self.cluster.status().brokers}
        target = ", ".join(f"broker {n}" for n in wanted) or "nothing"
        detail = ", ".join(f"broker {n}: pid {pids[n]}" for n in started) or "was running"
        return self._record("restart", target, detail)

    def pause(self, node_id: int, duration: float | None = None) -> Fault:
        """SIGSTOP a broker: alive, holding its sockets, answering nothing (a long GC pause, a frozen VM)."""
        _check_duration(duration)
        pids = self.cluster.pause_brokers([node_id])
        fault = self._record("pause", f"broker {node_id}", f"SIGSTOP pid {pids[0]}" if pids else "was not running")
        return self._undo_after(duration, fault, lambda: self.resume(node_id))

    def resume(self, node_id: int) -> Fault:
        pids = self.cluster.resume_brokers([node_id])
        return self._record("resume", f"broker {node_id}", f"SIGCONT pid {pids[0]}" if pids else "was not paused")

    # -- consumer processes (`labkit consumers start`) ---------------------------------------------------------
    def consumer(self, name: str) -> ConsumerProcess:
        """The running consumer process called `name` ('seat-reservation-1', 'ticketing-2')."""
        running = {p.name: p for p in self.consumers.list() if p.alive}
        if name not in running:
            raise ConfigError(
                f"no consumer process {name!r} runs; running: {', '.join(sorted(running)) or 'none'} "
                "(`labkit consumers start`)"
            )
        return running[name]

    def pause_consumer(self, name: str, duration: float | None = None) -> Fault:
        """SIGSTOP a consumer process: no heartbeat, no poll, until resumed (its group fences it when its
        session runs out; on waking its commits are refused and it rejoins)."""
        _check_duration(duration)
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
        partition) or from everyone ('everyone': the clients too). Undoing it restores only the links it cut."""
        _check_duration(duration)
        if from_ not in ISOLATIONS:
            raise ConfigError(f"isolate from must be one of {', '.join(ISOLATIONS)}, got {from_!r}")
        self.cluster.check_link_ends(node_id)  # refuses a cluster on 127.0.0.1 before anything is cut
        peers: list[net.Side] = [b.node_id for b in self.cluster.status().brokers if b.node_id != node_id]
        if from_ == "everyone":
            peers.append(net.CLIENTS)
        already = self.cluster.cut_links()
        links = [frozenset((node_id, peer)) for peer in peers if frozenset((node_id, peer)) not in already]
        for link in links:
            self.cluster.cut_link(*_ends(link))
        detail = "cut " + (", ".join(net.describe_link(link) for link in links) or "nothing: all were cut already")
        fault = self._record("isolate", f"broker {node_id} from {from_}", detail)
        return self._undo_after(duration, fault, lambda: self._heal_links(links))

    def cut(self, a: net.Side, b: net.Side, duration: float | None = None) -> Fault:
        """Cut one link: between two brokers, or between a broker and the clients (`CLIENTS`)."""
        _check_duration(duration)
        self.cluster.cut_link(a, b)
        link = frozenset((a, b))
        fault = self._record("cut", net.describe_link(link), "packets dropped both ways")
        return self._undo_after(duration, fault, lambda: self._heal_links([link]))

    def slow(self, node_id: int, delay_ms: int, duration: float | None = None) -> Fault:
        """Delay everything a broker sends by `delay_ms`, where the kernel has netem (ClusterError naming what
        is missing where it does not)."""
        _check_duration(duration)
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or not 1 <= delay_ms <= 60_000:
            raise ConfigError(f"delay_ms must be an integer from 1 to 60000, got {delay_ms!r}")
        self.cluster.add_latency(node_id, delay_ms)
        fault = self._record("slow", f"broker {node_id}", f"+{delay_ms} ms on everything it sends")
        return self._undo_after(duration, fault, lambda: self._unslow(node_id))

    def _unslow(self, node_id: int) -> Fault:
        self.cluster.remove_latency(node_id)
        return self._record("heal", f"broker {node_id}", "latency removed")

    def _heal_links(self, links: list[frozenset[net.Side]]) -> Fault:
        for link in links:
            self.cluster.heal_link(*_ends(link))
        return self._record("heal", ", ".join(net.describe_link(link) for link in links), "link(s) restored")

    # -- everything --------------------------------------------------------------------------------------------
    def heal(self) -> list[Fault]:
        """Undo every fault in force, whoever made it: links restored and latency removed first, then brokers
        and consumers resumed, then killed brokers restarted. Timed undos still pending are dropped: this does
        their work."""
        with self._lock:
            pending, self._pending[:] = list(self._pending), []
        for undo in pending:
            undo.timer.cancel()
        healed = []
        if links := net.sorted_links(self.cluster.cut_links()):
            healed.append(self._heal_links(links))
        healed += [self._unslow(node) for node in self.cluster.slowed_brokers()]
        healed += [self.resume(node) for node in self.cluster.paused_brokers()]
        healed += [self.resume_consumer(p.name) for p in self.consumers.list() if p.alive and is_paused(p.pid)]
        if any(not b.alive for b in self.cluster.status().brokers):
            healed.append(self.restart())
        return healed

    def in_force(self) -> list[str]:
        """The faults that hold now, read from the system: brokers down, paused or slowed, consumers paused,
        links cut."""
        status = self.cluster.status()
        found = [f"broker {b.node_id} is down" for b in status.brokers if not b.alive]
        found += [f"broker {n} is paused (SIGSTOP)" for n in self.cluster.paused_brokers()]
        found += [f"broker {n} is slowed (netem)" for n in self.cluster.slowed_brokers()]
        found += [
            f"consumer {p.name} (pid {p.pid}) is paused (SIGSTOP)"
            for p in self.consumers.list()
            if p.alive and is_paused(p.pid)
        ]
        found += [f"link {net.describe_link(link)} is cut" for link in net.sorted_links(self.cluster.cut_links())]
        return found

    def history(self, last: int = 20) -> list[Fault]:
        """The last `last` faults and undoings recorded in this home, oldest first."""
        if not self.log_file.is_file():
            return []
        lines = self.log_file.read_text().splitlines()[-last:] if last > 0 else []
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
        """Undo at once what is waiting for its duration to end, and stop the timers: nothing is left running.
        An undo that fails is recorded ("undo failed") and the others still run."""
        with self._lock:
            pending = list(self._pending)
        for undo in pending:
            undo.timer.cancel()
        undone = [fault for undo in pending if (fault := self._fire(undo)) is not None]
        for undo in pending:
            undo.timer.join()
        return undone

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
        pending = _PendingUndo(undo, duration, self._fire, f"labkit-chaos-undo-{fault.action}")
        with self._lock:
            self._pending.append(pending)
        pending.timer.start()
        return Fault(fault.at, fault.action, fault.target, f"{fault.detail}; to be undone in {duration:g} s")

    def _fire(self, pending: _PendingUndo) -> Fault | None:
        """Run a pending undo once (for its timer or for `close`, whichever comes first); a failure is recorded,
        not raised: a timer's thread has no caller."""
        with self._lock:
            if pending not in self._pending:
                return None
            self._pending.remove(pending)
        try:
            return pending.undo()
        except Exception as error:  # recorded for `labkit chaos status` and the control room
            return self._record("undo", "failed", f"{type(error).__name__}: {error}")


class _PendingUndo:
    """A fault's undoing, due when its timer fires."""

    def __init__(
        self, undo: Callable[[], Fault], after: float, fire: Callable[[_PendingUndo], Fault | None], name: str
    ) -> None:
        self.undo = undo
        self.timer = threading.Timer(after, fire, args=(self,))
        self.timer.daemon = True
        self.timer.name = name


def _check_duration(duration: float | None) -> None:
    if duration is None:
        return
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 < duration <= 3600:
        raise ConfigError(f"duration must be a number of seconds above 0 and up to 3600, got {duration!r}")


def _ends(link: frozenset[net.Side]) -> tuple[net.Side, net.Side]:
    a, b = sorted(link, key=str)
    return a, b
