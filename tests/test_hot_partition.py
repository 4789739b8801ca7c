"""A partition's owner from the rebalance history, and its drain rate from reply timestamps."""

from __future__ import annotations

import pandas as pd
import pytest

from labkit.experiments.hot_partition import drain_rate, owner_of

pytestmark = pytest.mark.unit

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


def test_drain_rate_is_replies_per_second_from_the_first_to_the_last() -> None:
    stamps = [T0 + pd.Timedelta(milliseconds=100 * n) for n in range(11)]  # 10/s
    assert drain_rate(pd.Series(list(reversed(stamps)))) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="too few to tell a rate"):
        drain_rate(pd.Series(stamps[:1]))
    with pytest.raises(ValueError, match="too few to tell a rate"):
        drain_rate(pd.Series([T0, T0]))
