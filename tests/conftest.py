"""Settings and a Lab on the run's cluster (see the root conftest.py), a fresh event id per test."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from labkit import Lab, SeatingConfig
from labkit.cluster.local import ClusterState
from labkit.kafka.clients import base_config
from labkit.messages import decode
from labkit.settings import Settings

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


@pytest.fixture
def event_id() -> int:
    """An event id no other test of this run (or a recent run) uses: isolation without new topics' cleanup."""
    return next(_event_ids)


@pytest.fixture(scope="module")
def module_event_id() -> int:
    """One fresh event for all tests of a module (a default venue's 301 partitions are worth sharing)."""
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
    """A Lab on the test cluster; its consumers and clients are stopped after the test, and the events it set up
    are deleted (a member of a killed consumer process may stay in its group until its session times out)."""
    with Lab(settings) as lab:
        yield lab
        lab.stop_consumers()
        for event in sorted(lab.events_set_up):
            lab.teardown_event(event, wait_for_members=30)
    leftover = [t.name for t in threading.enumerate() if t.name.startswith(settings.consumer_instance_id)]
    assert not leftover, f"consumer threads still running: {leftover}"


SMALL_VENUE = SeatingConfig(sections="AB", subsections=2, rows=4, seats_per_row=5)  # 20 seats per subsection


def read_all(settings: Settings, topic: str, count: int, timeout: float = 60.0) -> list[object]:
    """Decode the first `count` messages of a topic (all partitions) with a throwaway group."""
    consumer = Consumer(
        base_config(
            settings.kafka_bootstrap_servers or "",
            "test-reader",
            group_id=f"test-{uuid.uuid4()}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
    )
    consumer.subscribe([topic])
    found: list[object] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(decode(message.value()))
    finally:
        consumer.close()
    assert len(found) == count, f"{len(found)} of {count} messages on {topic}"
    return found


def assignments(lab: Lab, service: str) -> dict[str, set[tuple[str, int]]]:
    """Each running consumer thread's partitions now, replayed from its rebalance history (Lab.rebalances)."""
    owned: dict[str, set[tuple[str, int]]] = {}
    for row in lab.rebalances().query("service == @service").itertuples():
        mine = owned.setdefault(row.client_id, set())
        if row.kind == "assigned":
            mine |= set(row.partitions)
        else:
            mine -= set(row.partitions)
    return owned
