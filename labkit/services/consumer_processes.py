"""Consumers as processes, as the spec manages them: start N per service, status, logs, graceful stop.

Each process runs one consumer (`labkit consumers run SERVICE`) and stops on SIGTERM after finishing its batch:
offsets committed, group left. Pid files and logs live in the state folder.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from labkit.client_config import ENV_VAR as CLIENT_CONFIG_VAR
from labkit.cluster.endpoints import kafka_bootstrap, redis_url
from labkit.cluster.processes import is_running, kill_now, pause, resume, start_detached, stop
from labkit.domain.naming import KafkaConsumerGroupBuilder
from labkit.errors import ClusterError
from labkit.kafka.groups import describe_group, list_groups
from labkit.polling import poll
from labkit.runtime import Runtime
from labkit.services.workers import build_worker, check_consumer_counts, check_service
from labkit.settings import STOP_WITH_PID, Settings

MARKER = "labkit.cli consumers run"


def run(service: str, settings: Settings) -> None:
    """Run one consumer in this process until SIGTERM/SIGINT; then finish the batch, commit, leave, exit."""
    check_service(service)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with Runtime.connect(settings) as runtime:
        _run_worker(service, runtime)


def _run_worker(service: str, runtime: Runtime) -> None:
    settings, instance = runtime.settings, runtime.settings.consumer_instance_id
    worker, producer = build_worker(service, runtime, settings.event_id, instance)

    def request_stop(signum: int, frame: object) -> None:
        logging.getLogger(__name__).info("%s: signal %d, stopping after this batch", instance, signum)
        worker.stop_event.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if settings.stop_with_pid is not None:
        _stop_when_gone(settings.stop_with_pid, worker.stop_event)
    logging.getLogger(__name__).info("%s: %s consumer for event %d started", instance, service, settings.event_id)
    try:
        worker.run()
    finally:
        producer.close()
        logging.getLogger(__name__).info("%s: stopped after %d message(s)", instance, worker.processed)


def _stop_when_gone(pid: int, stop_event: threading.Event) -> None:
    """Stop (commit, leave the group) once process `pid` has exited: consumers a notebook kernel started must
    not outlive a kernel that died."""

    def watch() -> None:
        while not stop_event.wait(1.0):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                logging.getLogger(__name__).info("owner process %d is gone: stopping", pid)
                stop_event.set()

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


@dataclass(frozen=True)
class ConsumerProcess:
    service: str
    index: int
    pid: int | None
    alive: bool
    log_file: Path

    @property
    def name(self) -> str:
        """'seat-reservation-1': how `labkit chaos` and the logs name it."""
        return f"{self.service}-{self.index}"


class ConsumerProcesses:
    """The consumer processes of one state folder (`home`)."""

    def __init__(self, settings: Settings, stop_with_owner: bool = False) -> None:
        """`stop_with_owner`: the processes stop when this process exits (for notebooks and tests; the CLI's
        processes outlive the command that started them)."""
        self.settings = settings
        self.stop_with_owner = stop_with_owner
        self.folder = settings.home / "consumers"
        self.logs = settings.home / "logs"

    def _pid_file(self, service: str, index: int) -> Path:
        return self.folder / f"{service}-{index}.pid"

    def list(self) -> builtins.list[ConsumerProcess]:
        found = []
        for pid_file in sorted(self.folder.glob("*.pid")) if self.folder.is_dir() else []:
            service, _, index = pid_file.stem.rpartition("-")
            pid = int(pid_file.read_text().strip() or 0)
            found.append(
                ConsumerProcess(service, int(index), pid, is_running(pid, MARKER), self.logs / f"{pid_file.stem}.log")
            )
        return found

    def start(self, ticketing: int, seat_reservation: int) -> builtins.list[ConsumerProcess]:
        """Start this many more processes per service, with the cluster's addresses in their environment."""
        check_consumer_counts(ticketing=ticketing, seat_reservation=seat_reservation)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(self.settings),
            "REDIS_URL": redis_url(self.settings),
            "EVENT_ID": str(self.settings.event_id),
            "LABKIT_HOME": str(self.settings.home),
            "LABKIT_GROUP_PROTOCOL": self.settings.group_protocol,
        }
        env.pop(CLIENT_CONFIG_VAR, None)
        if self.settings.client_config is not None:  # the cluster's TLS / SASL settings
            env[CLIENT_CONFIG_VAR] = str(self.settings.client_config.path)
        env.pop("KAFKA_CONSUMER_INSTANCE_ID", None)  # each process generates consumer-<host>-<pid>
        env.pop(STOP_WITH_PID, None)
        if self.stop_with_owner:
            env[STOP_WITH_PID] = str(os.getpid())
        self.folder.mkdir(parents=True, exist_ok=True)
        used = {(p.service, p.index) for p in self.list() if p.alive}
        for service, count in (("ticketing", ticketing), ("seat-reservation", seat_reservation)):
            index = 0
            for _ in range(count):
                index += 1
                while (service, index) in used:
                    index += 1
                cmd = [sys.executable, "-m", "labkit.cli", "consumers", "run", service]
                pid = start_detached(cmd, self.logs / f"{service}-{index}.log", env=env)
                self._pid_file(service, index).write_text(str(pid))
        return self.list()

    def wait_for_members(self, ticketing: int, seat_reservation: int, timeout: float = 120.0) -> None:
        """Wait until both groups are Stable with (at least) this many members, so no booking waits on a join."""
        with Runtime.connect(self.settings) as runtime:
            self._wait_for_members(runtime, ticketing, seat_reservation, timeout)

    def _wait_for_members(self, runtime: Runtime, ticketing: int, seat_reservation: int, timeout: float) -> None:
        admin = runtime.admin
        groups = KafkaConsumerGroupBuilder.get_all_groups(self.settings.event_id)  # ticketing's first
        wanted = dict(zip(groups, (ticketing, seat_reservation), strict=True))
        seen: dict[str, str] = {}  # group → what the last look found, for the timeout's message

        def joined() -> bool:
            # Describe a group only once the brokers list it as Stable: describing a group whose coordinator
            # is still being set up on a fresh cluster aborted the process here (a librdkafka assertion,
            # rd_kafka_enq_once_del_source_return). Listing groups asks every broker and is safe.
            states = list_groups(admin)
            seen.update({group: f"listed as {states.get(group)}" for group in wanted})
            if any(states.get(group) != "Stable" for group in wanted):
                return False
            for group, count in wanted.items():
                try:
                    described = describe_group(admin, group)
                except ClusterError as error:  # the group's coordinator may still be moving in
                    seen[group] = f"not described: {error}"
                    return False
                seen[group] = f"{described.state} with {len(described.members)} member(s)"
                if described.state != "Stable" or len(described.members) < count:
                    return False
            return True

        if not poll(joined, timeout):
            for group in wanted:
                with contextlib.suppress(ClusterError):  # the timeout's message, not a check
                    seen[group] += f"; described: {describe_group(admin, group).reconciliation()}"
            raise ClusterError(
                f"timed out after {timeout:.0f} s waiting for {ticketing} + {seat_reservation} consumers to join "
                f"(last seen: {seen}; logs: {self.logs})"
            )

    def kill(self, process: ConsumerProcess) -> None:
        """SIGKILL one process, as a crash would: no commit, no leaving the group (its session times out)."""
        kill_now([process.pid or 0], lambda pid: MARKER)

    def pause(self, process: ConsumerProcess) -> None:
        """SIGSTOP one process: no poll, no heartbeat, no commit until `resume` (a stuck handler, a long GC)."""
        pause([process.pid or 0], lambda pid: MARKER)

    def resume(self, process: ConsumerProcess) -> None:
        resume([process.pid or 0])

    def stop_one(self, process: ConsumerProcess, timeout: float = 20.0) -> None:
        """SIGTERM one process: it finishes its batch, commits and leaves its group; SIGKILL after `timeout` s."""
        stop([process.pid or 0], lambda pid: MARKER, timeout)
        self._pid_file(process.service, process.index).unlink(missing_ok=True)

    def stop(self, timeout: float = 20.0) -> tuple[int, builtins.list[int]]:
        """SIGTERM every process (each commits and leaves its group), SIGKILL any left after `timeout` s."""
        processes = self.list()
        killed = stop([p.pid for p in processes if p.pid], lambda pid: MARKER, timeout)
        for p in processes:
            self._pid_file(p.service, p.index).unlink(missing_ok=True)
        return len([p for p in processes if p.alive]), killed
