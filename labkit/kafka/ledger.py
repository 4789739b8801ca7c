"""Where each partition a consumer owns stands: assigned when, paused or not, and its offsets in flight.

A batch is handled, then its output is acknowledged (confirmed), then its offsets are committed. The ledger keeps
every stage per partition, and `forget` drops a revoked or lost partition from all of them at once: nothing of
a partition another member now owns may be committed, sought or resumed by this one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

Partition = tuple[str, int]


@dataclass
class Unconfirmed:
    """A handled batch whose output is not yet acknowledged: the producer's mark after it, its offsets."""

    mark: int
    first: dict[Partition, int]  # where to seek back to if its output fails
    next: dict[Partition, int]  # what to commit once it is acknowledged


class PartitionLedger:
    """One consumer's partitions, used from its loop's thread only (other threads may read `assignment`)."""

    def __init__(self) -> None:
        self.assigned_at: dict[Partition, float] = {}  # monotonic time of each partition's assignment
        self.paused: set[Partition] = set()  # the partitions the loop has paused
        self._unconfirmed: deque[Unconfirmed] = deque()  # oldest first
        self._confirmed: dict[Partition, int] = {}  # next offset to read, per partition confirmed since assigned
        self._uncommitted: dict[Partition, int] = {}  # confirmed, not yet committed

    @property
    def assignment(self) -> frozenset[Partition]:
        return frozenset(self.assigned_at)

    def assign(self, partitions: Iterable[Partition], now: float) -> None:
        self.assigned_at.update(dict.fromkeys(partitions, now))

    def forget(self, partitions: Iterable[Partition]) -> None:
        """The partitions are revoked or lost: drop them from every stage."""
        for key in partitions:
            self.assigned_at.pop(key, None)
            self.paused.discard(key)
            self._confirmed.pop(key, None)
            self._uncommitted.pop(key, None)
            for batch in self._unconfirmed:
                batch.first.pop(key, None)
                batch.next.pop(key, None)

    # -- offsets -----------------------------------------------------------------------------------------------
    def handled(self, mark: int, first: dict[Partition, int], following: dict[Partition, int]) -> None:
        """A batch was handled: from `first` up to `following` per partition, its output up to producer `mark`."""
        self._unconfirmed.append(Unconfirmed(mark, first, following))

    @property
    def in_flight(self) -> int:
        """Handled batches whose output is not yet acknowledged."""
        return len(self._unconfirmed)

    @property
    def oldest_mark(self) -> int | None:
        """The producer mark the oldest unconfirmed batch waits for, or None if none waits."""
        return self._unconfirmed[0].mark if self._unconfirmed else None

    def confirm_oldest(self) -> None:
        """The oldest unconfirmed batch's output is acknowledged: its offsets may be committed."""
        following = self._unconfirmed.popleft().next
        self._confirmed.update(following)
        self._uncommitted.update(following)

    def rewind(self) -> dict[Partition, int]:
        """Every unconfirmed batch counts as failed: where to seek each still-assigned partition to handle them
        all again (the oldest batch's first offsets), and they are dropped."""
        first: dict[Partition, int] = {}
        for batch in self._unconfirmed:
            for key, offset in batch.first.items():
                first.setdefault(key, offset)
        self._unconfirmed.clear()
        return {key: offset for key, offset in first.items() if key in self.assigned_at}

    def take_uncommitted(self) -> dict[Partition, int]:
        """What was confirmed since the last take, to commit now."""
        offsets, self._uncommitted = self._uncommitted, {}
        return offsets

    @property
    def has_uncommitted(self) -> bool:
        return bool(self._uncommitted)

    def committable(self, partitions: Iterable[Partition] | None = None) -> dict[Partition, int]:
        """The confirmed offsets of these partitions (all confirmed ones by default), for a synchronous commit;
        they are no longer waiting for the next periodic one."""
        keys = list(self._confirmed) if partitions is None else list(partitions)
        for key in keys:
            self._uncommitted.pop(key, None)
        return {key: self._confirmed[key] for key in keys if key in self._confirmed}
