"""Exercises for every notebook, with checks that teach, hints and solutions (Kaggle Learn's learntools model).

In a notebook::

    from labkit import exercises
    ex = exercises.partitioning.own_partitioner
    ex.show()                 # the statement
    ex.check(partition_for)   # right or wrong, and why; a placeholder ____ gets "not yet" and the first hint
    ex.hint()                 # the next hint
    ex.solution()             # the reference solution's code
    exercises.progress()      # every exercise of the lab, solved or not

Checks that need the cluster ask it (offsets, lag, members) through labkit; none compares with a stored answer.
Progress is kept per learner under LABKIT_HOME (`labkit exercises` lists it, `labkit exercises reset` forgets it).
"""

from __future__ import annotations

import pandas as pd

from labkit.errors import ConfigError
from labkit.exercises import (
    consumer_loop,
    consumers,
    dashboard,
    delivery,
    keys,
    lag_code,
    names,
    offsets,
    partition_safety,
    partitioning,
    producer_code,
    raw_request,
    rebalance,
    recovery,
    schemas,
    sending,
    share_work,
    slow_work,
    stream_windows,
    topic_code,
    transactions,
)
from labkit.exercises.kit import Exercise, Verdict, ____
from labkit.exercises.progress import Progress
from labkit.settings import Settings

# In the order a learner meets them: notebook by notebook.
ALL: tuple[Exercise, ...] = (
    names.EXERCISES
    + topic_code.EXERCISES
    + partitioning.EXERCISES
    + producer_code.EXERCISES
    + sending.EXERCISES
    + raw_request.EXERCISES
    + consumer_loop.EXERCISES
    + consumers.EXERCISES
    + dashboard.EXERCISES
    + lag_code.EXERCISES
    + delivery.EXERCISES
    + recovery.EXERCISES
    + rebalance.EXERCISES
    + offsets.EXERCISES
    + transactions.EXERCISES
    + keys.EXERCISES
    + slow_work.EXERCISES
    + partition_safety.EXERCISES
    + schemas.EXERCISES
    + share_work.EXERCISES
    + stream_windows.EXERCISES
)
BY_KEY = {exercise.key: exercise for exercise in ALL}


def progress(settings: Settings | None = None) -> pd.DataFrame:
    """exercise, status ('solved', 'solution seen' or 'not yet'), title, notebook, solved_at — one row per
    exercise of the lab, for LABKIT_LEARNER."""
    done = Progress.for_learner(settings).read()
    rows = []
    for exercise in ALL:
        entry = done.get(exercise.key, {})
        status = "solved" if "solved_at" in entry else "solution seen" if "solution_seen_at" in entry else "not yet"
        rows.append((exercise.key, status, exercise.title, exercise.notebook, entry.get("solved_at", "")))
    return pd.DataFrame(rows, columns=["exercise", "status", "title", "notebook", "solved_at"])


def reset(keys: list[str] | None = None, settings: Settings | None = None) -> list[str]:
    """Forget your progress on `keys` (every exercise when None); returns what was forgotten."""
    unknown = sorted(set(keys or ()) - set(BY_KEY))
    if unknown:
        raise ConfigError(f"no exercise {unknown}; the exercises are {list(BY_KEY)}")
    return Progress.for_learner(settings).reset(keys)


__all__ = [
    "ALL",
    "BY_KEY",
    "Exercise",
    "Verdict",
    "____",
    "consumer_loop",
    "consumers",
    "dashboard",
    "delivery",
    "keys",
    "lag_code",
    "names",
    "offsets",
    "partition_safety",
    "partitioning",
    "producer_code",
    "progress",
    "raw_request",
    "rebalance",
    "recovery",
    "reset",
    "schemas",
    "sending",
    "share_work",
    "slow_work",
    "stream_windows",
    "topic_code",
    "transactions",
]
