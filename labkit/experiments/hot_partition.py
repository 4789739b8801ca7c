"""How fast one partition drains (notebook 10): replies per second, from the replies' own timestamps.

Notebook 10 measures it with the group settled before the backlog is queued (the consumers paused, not stopped),
so one member owns the partition from the first reply to the last; `owner_of` names it from the group's rebalance
history (`Lab.rebalances()`).
"""

from __future__ import annotations

import pandas as pd

from labkit.errors import StateError


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


def drain_rate(timestamps: pd.Series) -> float:
    """Replies per second from the first reply to the last: (n − 1) / span. ValueError when fewer than two replies
    (or all at one instant) leave no rate to tell."""
    stamps = timestamps.sort_values()
    if len(stamps) < 2 or stamps.iloc[-1] == stamps.iloc[0]:
        raise StateError(f"{len(stamps)} replies over {len(set(stamps))} instant(s): too few to tell a rate")
    return (len(stamps) - 1) / (stamps.iloc[-1] - stamps.iloc[0]).total_seconds()
