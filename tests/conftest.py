"""One embedded cluster per test run (3 brokers + Redis on their own ports), a fresh event id per test."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit import Lab, SeatingConfig
from labkit.cluster.local import ClusterState, LocalCluster
from labkit.settings import Settings, default_home

TEST_HOME = Path(os.environ.get("LABKIT_TEST_HOME", default_home() / "test"))
TEST_KAFKA_PORT = int(os.environ.get("LABKIT_TEST_KAFKA_PORT", "39092"))
TEST_REDIS_PORT = int(os.environ.get("LABKIT_TEST_REDIS_PORT", "36379"))

_event_ids = itertools.count(int(time.time()) % 1_000_000 * 100 + 1000)


@pytest.fixture(scope="session")
def cluster_home() -> Path:
    return TEST_HOME / "cluster"


@pytest.fixture(scope="session")
def cluster(cluster_home: Path) -> Iterator[ClusterState]:
    """The test cluster; stopped at the end of the run if this run started it."""
    local = LocalCluster(cluster_home)
    state, started = local.up(brokers=3, kafka_port=TEST_KAFKA_PORT, redis_port=TEST_REDIS_PORT)
    try:
        yield state
    finally:
        if started:
            local.down(wipe=True)


@pytest.fixture(scope="session")
def settings(cluster: ClusterState) -> Settings:
    """Settings that point at the test cluster, as KAFKA_BOOTSTRAP_SERVERS / REDIS_URL would."""
    return Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers,
            "REDIS_URL": cluster.redis_url,
            "LABKIT_HOME": str(TEST_HOME / "cluster"),
        }
    )


@pytest.fixture
def event_id() -> int:
    """An event id no other test of this run (or a recent run) uses: isolation without new topics' cleanup."""
    return next(_event_ids)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the cluster are `integration`, the others `unit`, unless marked otherwise."""
    for item in items:
        if any(item.get_closest_marker(m) for m in ("integration", "notebooks", "browser", "unit")):
            continue
        fixtures = getattr(item, "fixturenames", ())
        item.add_marker(
            pytest.mark.integration if "cluster" in fixtures or "settings" in fixtures else pytest.mark.unit
        )


@pytest.fixture
def lab(settings: Settings) -> Iterator[Lab]:
    """A Lab on the test cluster; its consumers and clients are stopped after the test."""
    with Lab(settings) as lab:
        yield lab
    leftover = [t.name for t in threading.enumerate() if t.name.startswith(settings.consumer_instance_id)]
    assert not leftover, f"consumer threads still running: {leftover}"


SMALL_VENUE = SeatingConfig(sections="AB", subsections=2, rows=4, seats_per_row=5)  # 20 seats per subsection
