"""Waiting for a condition with a deadline: the one polling loop of labkit (no sleep is ever a synchronisation).

Used wherever there is no event to wait on: a process exiting, a consumer group settling, brokers learning of a
new topic, outcomes arriving in Redis from other processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from labkit.errors import WaitTimeout

T = TypeVar("T")


def poll(check: Callable[[], T], timeout: float, interval: float = 0.1, between: Callable[[], None] | None = None) -> T:
    """Call `check` every `interval` s until it returns something truthy or `timeout` s have passed; returns
    its last result (falsy after a timeout). `between` runs before each pause (e.g. reaping children)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() >= deadline:
            return result
        if between is not None:
            between()
        time.sleep(interval)


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    between: Callable[[], None] | None = None,
    interval: float = 0.1,
) -> None:
    """`poll` until `condition` holds; WaitTimeout (a TimeoutError) naming `what` if `timeout` s pass first."""
    if not poll(condition, timeout, interval, between):
        raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
