"""A consumer's partitions in flight: handled, confirmed, committed, and forgotten when they move away."""

from __future__ import annotations

import pytest

from labkit.kafka.ledger import PartitionLedger

pytestmark = pytest.mark.unit

A, B = ("t", 0), ("t", 1)


def assigned(*partitions: tuple[str, int]) -> PartitionLedger:
    ledger = PartitionLedger()
    ledger.assign(partitions, now=100.0)
    return ledger


def test_a_batch_is_committable_only_once_its_output_is_confirmed_oldest_first() -> None:
    ledger = assigned(A, B)
    ledger.handled(mark=1, first={A: 0}, following={A: 5})
    ledger.handled(mark=2, first={A: 5, B: 0}, following={A: 9, B: 3})
    assert ledger.in_flight == 2 and ledger.oldest_mark == 1
    assert not ledger.has_uncommitted and ledger.committable() == {}
    ledger.confirm_oldest()
    assert ledger.oldest_mark == 2 and ledger.take_uncommitted() == {A: 5}
    ledger.confirm_oldest()
    assert ledger.oldest_mark is None and ledger.in_flight == 0
    assert ledger.take_uncommitted() == {A: 9, B: 3} and not ledger.has_uncommitted
    assert ledger.committable() == {A: 9, B: 3}  # for the final synchronous commit: all confirmed


def test_a_rewind_seeks_each_partition_to_its_oldest_unconfirmed_offset_and_drops_the_batches() -> None:
    ledger = assigned(A, B)
    ledger.handled(mark=1, first={A: 0}, following={A: 5})
    ledger.confirm_oldest()
    ledger.handled(mark=2, first={A: 5}, following={A: 9})
    ledger.handled(mark=3, first={A: 9, B: 2}, following={A: 12, B: 4})
    assert ledger.rewind() == {A: 5, B: 2}
    assert ledger.in_flight == 0 and ledger.committable() == {A: 5}  # the confirmed batch stays confirmed


def test_a_revoked_partition_is_forgotten_in_every_stage_at_once() -> None:
    ledger = assigned(A, B)
    ledger.paused |= {A, B}
    ledger.handled(mark=1, first={A: 0, B: 0}, following={A: 2, B: 2})
    ledger.confirm_oldest()
    ledger.handled(mark=2, first={A: 2, B: 2}, following={A: 4, B: 4})
    ledger.forget([A])
    assert ledger.assignment == {B} and ledger.paused == {B} and set(ledger.assigned_at) == {B}
    assert ledger.take_uncommitted() == {B: 2}
    assert ledger.committable([A, B]) == {B: 2}  # nothing of A is committed by this member any more
    assert ledger.rewind() == {B: 2}  # nor sought
    ledger.handled(mark=3, first={B: 4}, following={B: 6})
    ledger.forget([B])
    ledger.confirm_oldest()
    assert ledger.committable() == {} and ledger.assignment == frozenset()


def test_a_synchronous_commit_takes_its_partitions_out_of_the_next_periodic_one() -> None:
    ledger = assigned(A, B)
    ledger.handled(mark=1, first={A: 0, B: 0}, following={A: 3, B: 7})
    ledger.confirm_oldest()
    assert ledger.committable([A]) == {A: 3}
    assert ledger.take_uncommitted() == {B: 7}
