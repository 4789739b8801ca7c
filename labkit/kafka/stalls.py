"""A stalled partition: messages wait in it, and for `after` seconds its group's committed offset has not moved
while the same member owned it (or no member did). Found by comparing successive describes of the group.

A consumer that stops fetching reports no error: its group stays Stable, its heartbeats go on, and only the lag
says anything. A KIP-848 group can also hold a partition in no member's hands while the coordinator's target
gives it to a member that never takes it (docs/faults.md, "The KIP-848 stall"). Both show here, naming the
member and the coordinator's target.
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.kafka.groups import GroupDescription

Partition = tuple[str, int]


@dataclass(frozen=True)
class Stall:
    topic: str
    partition: int
    lag: int
    owner: str | None  # the owning member's client id; None: no member owns it
    target: str | None  # the member the coordinator wants to own it (KIP-848), None if not reported
    seconds: float  # how long the committed offset has not moved with this owner

    def __str__(self) -> str:
        where = f"{self.topic}[{self.partition}]"
        if self.owner is not None:
            return f"{where}: lag {self.lag}, owned by {self.owner}, committed offset still for {self.seconds:.0f} s"
        return (
            f"{where}: lag {self.lag}, owned by no member for {self.seconds:.0f} s "
            f"(the coordinator's target: {self.target or 'none'})"
        )


class StallDetector:
    """Feed it one group's describes as they come (`observe`); it reports the partitions stalled `after` s."""

    def __init__(self, after: float = 10.0) -> None:
        self.after = after
        self._seen: dict[Partition, tuple[int | None, str | None, float]] = {}  # committed, owner, since

    def observe(self, group: GroupDescription, now: float) -> list[Stall]:
        """The partitions of `group` with lag whose committed offset and owner are unchanged for `after` s
        before `now` (monotonic seconds)."""
        client = {m.member_id: m.client_id for m in group.members}
        target = {tp: m.client_id for m in group.members for tp in (m.target or ())}
        stalls, seen = [], {}
        for p in group.partitions:
            key = (p.topic, p.partition)
            if p.lag <= 0:
                continue
            owner = client.get(p.member_id or "", p.member_id)
            committed, was_owner, since = self._seen.get(key, (None, None, now))
            if (committed, was_owner) != (p.committed, owner) or key not in self._seen:
                since = now
            seen[key] = (p.committed, owner, since)
            if now - since >= self.after:
                stalls.append(Stall(p.topic, p.partition, p.lag, owner, target.get(key), now - since))
        self._seen = seen  # a partition without lag starts afresh when messages come again
        return stalls
