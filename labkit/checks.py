"""Argument type checks shared by every public function: one definition of "an integer" and "a number".

Python's `True` is an `int`; to labkit it is never a count, a port or a partition, so both checks refuse bools.
"""

from __future__ import annotations

from typing import TypeGuard


def is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)
