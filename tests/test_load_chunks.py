"""How send_burst splits a burst into book_many() calls (pure logic: no cluster)."""

from __future__ import annotations

import pytest

from labkit.experiments.load import FIRST_CHUNK, LAST_CHUNK, burst_chunks

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("count", [1, 99, 100, 101, 250, 1_000, 4_099, 20_000, 123_457])
def test_chunks_add_up_to_the_burst_and_grow_from_the_first_to_the_last_size(count: int) -> None:
    chunks = burst_chunks(count)
    assert sum(chunks) == count
    assert chunks[0] == min(count, FIRST_CHUNK)  # the first requests leave after one small transaction
    assert all(1 <= c <= LAST_CHUNK for c in chunks)
    full = chunks[:-1]  # every chunk but the remainder doubles what was sent, up to LAST_CHUNK
    assert all(c == min(LAST_CHUNK, max(FIRST_CHUNK, sum(chunks[:i]))) for i, c in enumerate(full))


def test_a_large_burst_goes_out_mostly_in_the_largest_chunks() -> None:
    assert burst_chunks(20_000) == [100, 100, 200, 400, 800, 1_600, *[2_000] * 8, 800]
