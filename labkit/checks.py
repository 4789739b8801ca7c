"""Argument checks shared by every public function: one definition of "an integer", "a number" and "an event id".

Python's `True` is an `int`; to labkit it is never a count, a port or a partition, so both checks refuse bools.
"""

from __future__ import annotations

from typing import TypeGuard

from labkit.errors import ConfigError


def is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_event_id(value: object, source: str = "event_id") -> int:
    """An event id is a positive integer; `source` names where the bad value came from."""
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ConfigError(f"{source} must be a positive integer, got {value!r}")
        value = int(value)
    if not is_int(value) or value < 1:
        raise ConfigError(f"{source} must be a positive integer, got {value!r}")
    return value
