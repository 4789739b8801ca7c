"""How fast one partition drains (notebook 10): replies per second, from the replies' own timestamps.

A group that is still settling when a backlog waits may give a partition to one member and, a heartbeat later,
move it to another (KIP-848 assigns incrementally); the first owner may have answered a batch by then. The drain
rate of the partition is therefore counted from the moment its final owner got it, as the owner's rebalance
history (`Lab.rebalances()`) says.
"""

from __future__ import annotations

import pandas as pd


def owner_of(rebalances: pd.DataFrame, topic: str, partition: int) -> str | None:
    """The client id that holds `topic`'s `partition` now, by the rebalance history (oldest first): the last to
    be assigned it and not to have been revoked it or lost it since. (The brokers' describe of the group can show
    no owner for a moment while a member's assignment is being reconciled.)"""
    owner = None
    for row in rebalances.sort_values("at", kind="stable").itertuples():
        if (topic, partition) in row.partitions:
            if row.kind == "assigned":
                owner = row.client_id
            elif owner == row.client_id:
                owner = None
    return owner


def owned_since(rebalances: pd.DataFrame, client_id: str, topic: str, partition: int) -> pd.Timestamp | None:
    """When `client_id` last got `topic`'s `partition` (its latest "assigned" change that names it), or None."""
    mine = rebalances[(rebalances.client_id == client_id) & (rebalances.kind == "assigned")]
    times = [row.at for row in mine.itertuples() if (topic, partition) in row.partitions]
    return max(times) if times else None


def drain_rate(timestamps: pd.Series, rebalances: pd.DataFrame, owner: str, topic: str, partition: int) -> float:
    """Replies per second from the first to the last reply written once `owner` had `partition`: (n − 1) / span.
    ValueError when fewer than two replies came after that, so no rate can be told."""
    since = owned_since(rebalances, owner, topic, partition)
    stamps = timestamps.sort_values()
    if since is not None:
        stamps = stamps[stamps >= since]
    if len(stamps) < 2 or stamps.iloc[-1] == stamps.iloc[0]:
        raise ValueError(f"{len(stamps)} replies after {owner} got partition {partition}: too few to tell a rate")
    return (len(stamps) - 1) / (stamps.iloc[-1] - stamps.iloc[0]).total_seconds()
