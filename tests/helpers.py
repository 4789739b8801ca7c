"""What tests share beyond fixtures: a small venue, reading a topic back, a thread's partitions."""

from __future__ import annotations

import stat
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer

from labkit import Lab, SeatingConfig
from labkit.domain.messages import decode
from labkit.kafka.clients import base_config
from labkit.services.event_catalog import delete_event
from labkit.settings import Settings

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


@contextmanager
def lab_for_a_test(settings: Settings) -> Iterator[Lab]:
    """A Lab whose consumers are stopped and whose events are deleted after the block (a member of a killed
    consumer process may stay in its group until its session times out: up to 30 s), then a check that no
    consumer thread of it is left running."""
    with Lab(settings) as lab:
        yield lab
        lab.stop_consumers()
        for event in sorted(lab.events_set_up):  # the next test takes a new id: no need to wait until unlisted
            delete_event(lab.admin, lab.redis, event, wait_for_members=30, wait_unlisted=False)
    leftover = [t.name for t in threading.enumerate() if t.name.startswith(settings.consumer_instance_id)]
    assert not leftover, f"consumer threads still running: {leftover}"


def fake_java_home(home: Path, version: str) -> Path:
    """A JDK home whose bin/java only says `version` to `java -version`: an old Java, without installing one."""
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-16' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return home
