"""A partition's drain rate from reply timestamps, counted from when its final owner got it."""

from __future__ import annotations

import pandas as pd
import pytest

from labkit.hot_partition import drain_rate, owned_since, owner_of

T0 = pd.Timestamp("2026-12-03 12:00:00")


def _rebalances() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"client_id": "first", "at": T0, "kind": "assigned", "partitions": [("rs", 9)]},
            {"client_id": "first", "at": T0 + pd.Timedelta(seconds=1), "kind": "revoked", "partitions": [("rs", 9)]},
            {"client_id": "final", "at": T0 + pd.Timedelta(seconds=1), "kind": "assigned", "partitions": [("rs", 9)]},
        ]
    )


def test_the_owner_is_the_last_assigned_and_not_revoked_since() -> None:
    assert owner_of(_rebalances(), "rs", 9) == "final"
    assert owner_of(_rebalances().iloc[:2], "rs", 9) is None, "revoked from the first, nobody else has it"
    assert owner_of(_rebalances(), "rs", 8) is None


def test_owned_since_is_the_latest_assignment_of_that_partition() -> None:
    assert owned_since(_rebalances(), "final", "rs", 9) == T0 + pd.Timedelta(seconds=1)
    assert owned_since(_rebalances(), "final", "rs", 8) is None


def test_drain_rate_counts_only_the_final_owners_replies() -> None:
    early = [T0 + pd.Timedelta(milliseconds=10 * n) for n in range(10)]  # the first owner's batch: excluded
    late = [T0 + pd.Timedelta(seconds=1) + pd.Timedelta(milliseconds=100 * n) for n in range(11)]  # 10/s
    assert drain_rate(pd.Series(early + late), _rebalances(), "final", "rs", 9) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="too few to tell a rate"):
        drain_rate(pd.Series(early), _rebalances(), "final", "rs", 9)
