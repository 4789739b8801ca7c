"""One consumer, consuming in batches and committing each batch only after its output is acknowledged.

The handler produces its output through the worker's ReliableProducer and returns without waiting. The
worker keeps up to `max_in_flight` handled batches whose output is still unacknowledged and goes on
consuming; it commits a batch (asynchronously) once everything produced up to the end of that batch is
acknowledged, oldest first. So a crash anywhere before the commit means redelivery (at-least-once), never
loss, and a batch's acknowledgement wait overlaps the next batches' work instead of stalling it. Handlers
are idempotent, so redelivery has no second effect.

If a produced message fails, every unconfirmed batch is treated as failed: the consumer seeks back to the
oldest one's first offsets and handles them again. Partitions being revoked wait for their batches'
acknowledgements and get a synchronous commit (their next owner starts right after the last handled
message), as do all partitions when the worker stops; lost partitions get nothing. A failed commit is logged,
never fatal: the next commit, or a redelivery to an idempotent handler, covers it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from labkit.errors import ConfigError, DeliveryError, MessageError
from labkit.kafka.clients import base_config
from labkit.kafka.ledger import Partition, PartitionLedger
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.watchdog import UnfetchedWatchdog
from labkit.settings import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)

Handler = Callable[[list[Message]], None]


@dataclass(frozen=True)
class Rebalance:
    """Partitions this worker was given or lost, and when (epoch seconds): how a group spreads its work."""

    at: float
    kind: str  # "assigned", "revoked" (handed over cleanly) or "lost" (the session had expired)
    partitions: tuple[Partition, ...]


class BatchWorker:
    """Runs in a daemon thread (`start`/`stop`) or in the caller's thread (`run`), e.g. a consumer process.

    `producer` is the one the handler produces with (None for a handler that produces nothing). `assignor`:
    cooperative-sticky moves only the partitions that must move on a rebalance, but balances the total count
    only; a group that reads several topics unevenly loaded wants `range` (each topic split evenly).
    `group_protocol`: see `group_config`. `tuning`: the classic groups' session and the watchdog's wait.

    What each partition has in flight lives in `ledger` (labkit.kafka.ledger), the check for partitions never
    fetched in `watchdog` (labkit.kafka.watchdog).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: list[str],
        client_id: str,
        handler: Handler,
        producer: ReliableProducer | None = None,
        assignor: str = "cooperative-sticky",
        group_protocol: str = "consumer",
        tuning: Tuning = DEFAULT_TUNING,
    ) -> None:
        self.config = base_config(
            bootstrap_servers,
            client_id,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.config.update(group_config(group_protocol, assignor, tuning))
        self.topics = topics
        self.client_id = client_id
        self.handler = handler
        self.producer = producer
        self.batch_size = tuning.batch_size
        self.poll_timeout = tuning.poll_timeout
        self.max_in_flight = tuning.max_in_flight
        self.ack_timeout = tuning.ack_timeout
        self.commit_interval = tuning.commit_interval
        self.leave_timeout = tuning.leave_timeout
        self._last_commit = 0.0
        self.stop_event = threading.Event()
        self.processed = 0
        self.ledger = PartitionLedger()
        self.watchdog = UnfetchedWatchdog(client_id, tuning.unfetched_after)
        self.rebalances: list[Rebalance] = []
        self.commit_failures = 0
        self.rewinds = 0  # times unconfirmed batches were handled again after a delivery failure
        self._pause_wanted = threading.Event()  # pause(): fetch nothing, stay in the group
        self._paused_now = threading.Event()  # the loop has paused every assigned partition
        self._thread: threading.Thread | None = None

    # -- thread control ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=self.client_id, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> bool:
        """Ask the loop to finish its batch, commit, leave the group; True if the thread ended in time."""
        self.stop_event.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def pause(self) -> None:
        """Stop fetching (Kafka's `pause` of every assigned partition) but stay in the group: the member keeps
        heartbeating and keeps its partitions, and messages wait in them. Applied by the loop between batches;
        `paused` says when it has been."""
        self._pause_wanted.set()

    def resume(self) -> None:
        """Fetch again from where the paused partitions stopped."""
        self._pause_wanted.clear()

    @property
    def paused(self) -> bool:
        return self._paused_now.is_set()

    @property
    def assignment(self) -> frozenset[Partition]:
        """The partitions this member owns now (read from any thread)."""
        return self.ledger.assignment

    # -- the loop ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Subscribe, loop over `_step` until stopped, then `_finish`."""
        consumer = Consumer(self.config)  # created here, not in __init__: no network work before the loop runs
        consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        try:
            while not self.stop_event.is_set():
                self._step(consumer)
            self._finish(consumer)
        finally:
            consumer.close()

    def _step(self, consumer: Consumer) -> None:
        """Follow pause/resume, handle the next batch, commit what is acknowledged, look for stuck partitions."""
        self._follow_pause(consumer)
        batch = [m for m in self._next_messages(consumer) if not _is_error(m)]
        if batch:
            self._handle(consumer, batch)
        self._settle(consumer, wait=self.ledger.in_flight >= self.max_in_flight)
        self.watchdog.check(consumer, self.ledger, time.monotonic())

    def _finish(self, consumer: Consumer) -> None:
        """Wait for every batch's acknowledgement, commit it all, leave the group."""
        self._settle(consumer, wait=True, everything=True)
        self._final_commit(consumer)
        self._leave(consumer)

    def _leave(self, consumer: Consumer) -> None:
        """Leave the group before closing: unsubscribe, then serve the revocation (its commit included) until
        nothing is assigned, for up to `leave_timeout` s.

        close() alone leaves too, but inside librdkafka: once, under CPU contention, two of eight consumer
        threads stopped together never returned from it (notebook 03 run twice in a stress loop; the thread
        stacks showed both in close()). Members that leave at once hand each other partitions, and librdkafka
        has hung before on an assignment that arrived while it closed (confluentinc/librdkafka#4527). Left
        this way, the member is out of the group while the loop still serves its callbacks, and close() has
        nothing left to do. What poll returns meanwhile was never handled: not committed, so redelivered."""
        consumer.unsubscribe()
        deadline = time.monotonic() + self.leave_timeout
        while consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(0.1)

    def _follow_pause(self, consumer: Consumer) -> None:
        """Pause or resume as asked from another thread, on the consumer's own thread. While paused, a partition
        assigned since is paused too."""
        paused = self.ledger.paused
        if self._pause_wanted.is_set():
            new = self.ledger.assignment - paused
            if new:
                consumer.pause([TopicPartition(t, p) for t, p in sorted(new)])
                paused |= new
            self._paused_now.set()
        elif self._paused_now.is_set():
            if paused:  # revoked partitions left it in ledger.forget: what remains is still assigned
                consumer.resume([TopicPartition(t, p) for t, p in sorted(paused)])
            paused.clear()
            self._paused_now.clear()

    def _next_messages(self, consumer: Consumer) -> list[Message]:
        """Wait (up to poll_timeout) for the first message, then add what is already fetched, without waiting.

        `consume(n, timeout)` alone returns only when n messages have arrived or the timeout has passed: below
        n messages per timeout, every hop would wait the whole timeout. This way a lone message is handled at
        once, and batches grow only as the load does.
        """
        first = consumer.poll(self.poll_timeout)
        if first is None:
            return []
        return [first, *consumer.consume(self.batch_size - 1, 0)] if self.batch_size > 1 else [first]

    def _handle(self, consumer: Consumer, batch: list[Message]) -> None:
        first, following = _offsets(batch)
        try:
            self.handler(batch)
        except Exception:
            log.exception("%s: handling a batch of %d failed; it will be redelivered", self.client_id, len(batch))
            _seek(consumer, first)
            self.stop_event.wait(1.0)  # back off before the retry
            return
        self.processed += len(batch)
        self.ledger.handled(self.producer.mark() if self.producer is not None else 0, first, following)

    def _settle(self, consumer: Consumer, wait: bool, everything: bool = False) -> None:
        """Commit the oldest batches whose output is acknowledged. `wait`: block (up to ack_timeout) until at
        least the oldest one is — or all of them, with `everything`. A failed delivery rewinds them all."""
        confirmed = False
        try:
            while (mark := self.ledger.oldest_mark) is not None:
                patience = self.ack_timeout if wait and (everything or not confirmed) else 0.0
                if self.producer is not None and not self.producer.acknowledged(mark, patience):
                    if patience:
                        raise DeliveryError(f"no acknowledgement in {self.ack_timeout:.0f} s")
                    break
                self.ledger.confirm_oldest()
                confirmed = True
        except DeliveryError as error:
            self._rewind(consumer, error)
        if self.ledger.has_uncommitted and time.monotonic() - self._last_commit >= self.commit_interval:
            self._commit_async(consumer)

    def _commit_async(self, consumer: Consumer) -> None:
        """Commit what was acknowledged since the last commit, at most every `commit_interval` s: each commit is
        a replicated write to __consumer_offsets, and the brokers' CPU is what limits this machine. A later
        commit only means a longer redelivery after a crash, never a loss."""
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.ledger.take_uncommitted().items()]
        self._last_commit = time.monotonic()
        self._commit(consumer, offsets, asynchronous=True)

    def _rewind(self, consumer: Consumer, error: DeliveryError) -> None:
        """Handle every unconfirmed batch again, from the oldest one's first offsets."""
        log.warning("%s: %s; handling %d batch(es) again", self.client_id, error, self.ledger.in_flight)
        self.rewinds += 1
        _seek(consumer, self.ledger.rewind())

    def _commit_sync(self, consumer: Consumer, partitions: list[Partition] | None = None) -> KafkaError | None:
        """Commit what was confirmed on these partitions (all by default) and wait for the answer (revocation,
        shutdown)."""
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.ledger.committable(partitions).items()]
        return self._commit(consumer, offsets, asynchronous=False) if offsets else None

    def _final_commit(self, consumer: Consumer, attempts: int = 5) -> None:
        """Commit everything confirmed before leaving. When several members leave at once (a Lab stopping its
        threads), each departure moves partitions and bumps the others' member epoch (KIP-848): a commit sent
        with the old one is refused with STALE_MEMBER_EPOCH. Serving the consumer's callbacks (a poll, whose
        message is dropped: it was never handled, so its offset is not committed) takes the new epoch."""
        for _ in range(attempts):
            error = self._commit_sync(consumer)
            if error is None or error.code() not in _STALE_MEMBER:
                return
            consumer.poll(0.2)

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition], asynchronous: bool) -> KafkaError | None:
        """A failed commit is counted and logged, never fatal: a later commit covers it, or the next owner gets
        a redelivery, which the handlers absorb. Returns the error, if any."""
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
            else:
                consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. no coordinator right now
            self.commit_failures += 1
            error: KafkaError = exc.args[0]
            level = logging.INFO if error.code() in _STALE_MEMBER else logging.WARNING  # a rebalance: retried
            log.log(level, "%s: commit of %d partition(s) failed: %s", self.client_id, len(offsets), error)
            return error
        return None

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assigned = _keys(partitions)
        self.ledger.assign(assigned, time.monotonic())
        self._record("assigned", assigned)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = _keys(partitions)
        self._settle(consumer, wait=True, everything=True)
        self._commit_sync(consumer, revoked)  # commit on revoke: the next owner starts after our last batch
        self.ledger.forget(revoked)
        self._record("revoked", revoked)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost (session expired): another member may own them already, so committing could move its offsets.
        lost = _keys(partitions)
        self.ledger.forget(lost)
        self._record("lost", lost)

    def _record(self, kind: str, partitions: list[Partition]) -> None:
        if partitions:  # the consumer protocol also calls back with nothing to report
            self.rebalances.append(Rebalance(time.time(), kind, tuple(sorted(partitions))))


# The classic client-side assignor → the KIP-848 server-side assignor that splits partitions the same way:
# `uniform` spreads the total evenly and moves only what must move (like cooperative-sticky); `range` gives
# every member the same partition numbers of each topic it reads.
SERVER_ASSIGNORS = {"cooperative-sticky": "uniform", "range": "range"}


def group_config(group_protocol: str, assignor: str, tuning: Tuning = DEFAULT_TUNING) -> dict[str, str | int]:
    """A consumer's group settings under either protocol.

    `consumer` (KIP-848): the group coordinator computes the assignment with a server-side assignor, sets the
    session timeout and heartbeat interval (brokers' group.consumer.* settings), and a member that joins or
    leaves moves only the partitions that must move while the others keep consuming. `classic`: the members
    assign among themselves in a join/sync round, with their own session timeout (`tuning`).
    """
    if assignor not in SERVER_ASSIGNORS:
        raise ConfigError(f"assignor must be one of {sorted(SERVER_ASSIGNORS)}, got {assignor!r}")
    if group_protocol == "consumer":
        return {"group.protocol": "consumer", "group.remote.assignor": SERVER_ASSIGNORS[assignor]}
    if group_protocol == "classic":
        return {
            "group.protocol": "classic",
            "partition.assignment.strategy": assignor,
            "session.timeout.ms": tuning.classic_session_timeout_ms,
            "heartbeat.interval.ms": tuning.classic_heartbeat_interval_ms,
        }
    raise ConfigError(f"group_protocol must be 'consumer' or 'classic', got {group_protocol!r}")


_STALE_MEMBER = {KafkaError.STALE_MEMBER_EPOCH, KafkaError.UNKNOWN_MEMBER_ID, KafkaError.FENCED_MEMBER_EPOCH}


def _is_error(message: Message) -> bool:
    error = message.error()
    if error is None:
        return False
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error: %s", error)
    return True


def position(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed record (never None there: only error events lack them)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise MessageError(f"not a consumed record: {message.error()}")
    return topic, partition, offset


def _keys(partitions: list[TopicPartition]) -> list[Partition]:
    return [(tp.topic, tp.partition) for tp in partitions]


def _offsets(batch: list[Message]) -> tuple[dict[Partition, int], dict[Partition, int]]:
    """Per partition: the batch's first offset, and the offset after its last."""
    first: dict[Partition, int] = {}
    following: dict[Partition, int] = {}
    for m in batch:
        topic, partition, offset = position(m)
        key = (topic, partition)
        first[key] = min(first.get(key, offset), offset)
        following[key] = max(following.get(key, 0), offset + 1)
    return first, following


def _seek(consumer: Consumer, offsets: dict[Partition, int]) -> None:
    for (topic, partition), offset in offsets.items():
        consumer.seek(TopicPartition(topic, partition, offset))
