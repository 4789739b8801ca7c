"""Lazy: built once however many threads ask at the same time; take() hands the value over and forgets it."""

from __future__ import annotations

import threading

import pytest

from labkit.lazy import Lazy


@pytest.mark.unit
def test_many_threads_get_one_value_and_take_forgets_it() -> None:
    lazy: Lazy[object] = Lazy()
    builds: list[object] = []
    start = threading.Barrier(8)

    def build() -> object:
        builds.append(object())
        return builds[-1]

    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(lazy.get(build))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and got == builds * 8 and lazy.peek() is builds[0]
    assert lazy.take() is builds[0] and lazy.peek() is None and lazy.take() is None
    assert lazy.get(build) is builds[1], "built anew after take()"
