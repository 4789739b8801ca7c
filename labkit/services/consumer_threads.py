"""Consumers as threads of this process (a notebook's kernel, a test): the Lab's way to run the services.

Beside `labkit.services.consumer_processes.ConsumerProcesses`, and built by the same `build_worker`. Each thread
finishes its batch, commits and leaves its group when stopped; `stop_all` joins them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from labkit.errors import StateError, WaitTimeout
from labkit.kafka.admin import Admin
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.topics import list_topics
from labkit.kafka.worker import BatchWorker
from labkit.polling import poll
from labkit.runtime import Runtime
from labkit.services.workers import SERVICES, build_worker, check_service

log = logging.getLogger(__name__)


class ConsumerThreads:
    """The running consumer threads of one Lab, per service, oldest first."""

    def __init__(self, instance_prefix: str, stop_timeout: float) -> None:
        """`stop_timeout`: s each thread gets to stop (Tuning.stop_timeout)."""
        self.instance_prefix = instance_prefix
        self.stop_timeout = stop_timeout
        self._running: dict[str, list[tuple[BatchWorker, ReliableProducer]]] = {s: [] for s in SERVICES}
        self._started = 0

    def start(self, service: str, runtime: Runtime, event_id: int) -> BatchWorker:
        """One more consumer thread of `service` for the event; it joins its group in the background."""
        self._started += 1
        instance = f"{self.instance_prefix}-{check_service(service)}-{self._started}"
        pair = build_worker(service, runtime, event_id, instance)
        pair[0].start()
        self._running[service].append(pair)
        return pair[0]

    def remove(self, service: str) -> str:
        """Stop the newest consumer thread of `service`; returns its client id."""
        if not self._running[check_service(service)]:
            raise StateError(f"no {service} consumer is running")
        worker, producer = self._running[service].pop()
        _stop(worker, producer, self.stop_timeout)
        return worker.client_id

    def stop_all(self) -> None:
        """Ask every thread to stop at once (their group leaves overlap), then join each and close its producer."""
        pairs = [pair for service in SERVICES for pair in self._running[service]]
        for worker, _ in pairs:
            worker.stop_event.set()
        for worker, producer in pairs:
            _stop(worker, producer, self.stop_timeout)
        for service in SERVICES:
            self._running[service].clear()

    def pause(self, service: str, timeout: float) -> None:
        """Every thread of `service` stops fetching and stays in its group (`BatchWorker.pause`); returns once all
        have paused, WaitTimeout after `timeout` s."""
        for worker, _ in self._running[check_service(service)]:
            worker.pause()
        if not poll(lambda: self.paused(service), timeout):
            raise WaitTimeout(f"the {service} consumers did not pause within {timeout} s")

    def resume(self, service: str) -> None:
        for worker, _ in self._running[check_service(service)]:
            worker.resume()

    def paused(self, service: str) -> bool:
        """Whether every thread of `service` has paused all its partitions."""
        return all(worker.paused for worker, _ in self._running[check_service(service)])

    def workers(self) -> list[tuple[str, BatchWorker]]:
        """(service, worker) of every running thread."""
        return [(service, worker) for service, pairs in self._running.items() for worker, _ in pairs]

    def reading(self, topics: set[str]) -> list[str]:
        """Client ids of the threads that read any of `topics`."""
        return [worker.client_id for _, worker in self.workers() if topics & set(worker.topics)]

    def settled(self, partition_count: Callable[[str], int | None]) -> bool:
        """Whether the threads together own every partition of their topics, each thread at least one (when there
        are enough partitions) and about as many as the others (at most one more per topic)."""
        teams: dict[tuple[str, ...], list[set[tuple[str, int]]]] = {}
        for _, worker in self.workers():
            teams.setdefault(tuple(worker.topics), []).append(set(worker.assignment))
        for topics, owned in teams.items():
            counts = [partition_count(t) for t in topics]
            if None in counts:
                return False  # the broker that answered does not know the topic yet
            wanted = sum(c for c in counts if c is not None)
            if sum(len(a) for a in owned) != wanted or (len(owned) <= wanted and not all(owned)):
                return False
            # ... and evenly: a member's partitions move in steps (KIP-848 reconciles revocations before the
            # newcomer gets them), and every partition has an owner before the last step is taken.
            sizes = [len(a) for a in owned]
            if max(sizes) - min(sizes) > len(topics):
                return False
        return True

    def wait_settled(self, admin: Admin, timeout: float) -> None:
        """Until `settled`, each topic's partition count read once (it does not change meanwhile); WaitTimeout
        with every thread's assignment size after `timeout` s."""
        partitions: dict[str, int] = {}

        def count(topic: str) -> int | None:
            if topic not in partitions:
                partitions.update(list_topics(admin))
            return partitions.get(topic)

        if not poll(lambda: self.settled(count), timeout):
            state = [(w.client_id, w.alive, len(w.assignment)) for _, w in self.workers()]
            raise WaitTimeout(f"consumer groups did not settle within {timeout} s: (client, alive, partitions) {state}")


def _stop(worker: BatchWorker, producer: ReliableProducer, timeout: float) -> None:
    if not worker.stop(timeout=timeout):
        log.warning("consumer %s did not stop within %.0f s (a broker may be unreachable)", worker.client_id, timeout)
    producer.close()
