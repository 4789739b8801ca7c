"""Settings and a Lab on the run's cluster (see the root conftest.py), a fresh event id per test.
What tests share beyond fixtures lives in tests/helpers.py."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import Lab
from labkit.cluster.state import ClusterState
from labkit.settings import Settings
from tests.helpers import lab_for_a_test

_event_ids = itertools.count(int(time.time()) % 1_000_000 * 100 + 1000)


@pytest.fixture(scope="session")
def settings(cluster: ClusterState, cluster_home: Path) -> Settings:
    """Settings that point at the test cluster, as KAFKA_BOOTSTRAP_SERVERS / REDIS_URL would."""
    return Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
            "REDIS_URL": cluster.redis_url,
            "LABKIT_HOME": str(cluster_home),
        }
    )


def next_event_id() -> int:
    """An event id no other test of this run (or a recent run) uses: isolation without new topics' cleanup."""
    return next(_event_ids)


@pytest.fixture
def event_id() -> int:
    return next_event_id()


@pytest.fixture(scope="module")
def module_event_id() -> int:
    """One fresh event for all tests of a module (a default venue's 301 partitions are worth sharing)."""
    return next(_event_ids)


KINDS = ("unit", "integration", "notebooks", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test says what kind it is, with exactly one of KINDS: `make check` runs the unit tests alone. The unit
    tests run first (in their files' order), while the cluster the others need starts (see the root conftest)."""
    wrong = [item.nodeid for item in items if sum(bool(item.get_closest_marker(k)) for k in KINDS) != 1]
    if wrong:
        raise pytest.UsageError(f"mark each of these with exactly one of {', '.join(KINDS)}: {wrong}")
    items.sort(key=lambda item: not item.get_closest_marker("unit"))


@pytest.fixture
def lab(settings: Settings) -> Iterator[Lab]:
    """A Lab on the test cluster; its consumers and clients are stopped after the test, and the events it set up
    are deleted (see tests/helpers.py, `lab_for_a_test`)."""
    with lab_for_a_test(settings) as lab:
        yield lab
