"""The pipe's limits on this cluster, measured without labkit's code: Kafka's own tools, and a plain
confluent-kafka round trip (produce → forward → sink) written here with nothing from labkit.kafka."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from labkit.cluster.broker import java_command
from labkit.cluster.jars import read_classpath
from labkit.cluster.java import find_java
from labkit.settings import java_home_from_env

RECORD_BYTES = 200  # about the size of a reserve-seats message


def _kafka_tool(home: Path, main: str, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        java_command(find_java(java_home_from_env()), read_classpath(home), main, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{main} failed: {(result.stderr or result.stdout).strip()[-500:]}")
    return result.stdout


def _create(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held until its futures are done
    for future in admin.create_topics([NewTopic(topic, partitions, 3)]).values():
        future.result(60)


def _delete(bootstrap: str, *topics: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held until its futures are done
    for future in admin.delete_topics(list(topics)).values():
        future.result(60)


def end_to_end_latency(home: Path, bootstrap: str, messages: int = 2_000) -> dict[str, float]:
    """org.apache.kafka.tools.EndToEndLatency: one producer → consumer hop at a time, acks=all, 1 partition RF 3."""
    topic = f"bench-e2e-{uuid.uuid4().hex[:8]}"  # the tool creates it: 1 partition, the brokers' replication (3)
    try:
        out = _kafka_tool(
            home, "org.apache.kafka.tools.EndToEndLatency", bootstrap, topic, str(messages), "all", str(RECORD_BYTES)
        )
    finally:
        _delete(bootstrap, topic)
    percentiles = re.search(r"50th = ([\d.]+), 99th = ([\d.]+)", out)
    if percentiles is None:
        raise RuntimeError(f"EndToEndLatency printed no percentiles: {out[-300:]}")
    return {"p50_ms": float(percentiles.group(1)), "p99_ms": float(percentiles.group(2))}


def producer_performance(home: Path, bootstrap: str, records: int = 200_000, throughput: int = -1) -> dict[str, float]:
    """org.apache.kafka.tools.ProducerPerformance: acks=all, 100 partitions RF 3, linger 5 ms (labkit's)."""
    topic = f"bench-perf-{uuid.uuid4().hex[:8]}"
    _create(bootstrap, topic, 100)
    try:
        out = _kafka_tool(
            home,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(records),
            "--record-size",
            str(RECORD_BYTES),
            "--throughput",
            str(throughput),
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            "linger.ms=5",
        )
    finally:
        _delete(bootstrap, topic)
    last = out.strip().splitlines()[-1]
    rate = re.search(r"([\d.]+) records/sec", last)
    p50, p99 = re.search(r"(\d+) ms 50th", last), re.search(r"(\d+) ms 99th", last)
    if rate is None or p50 is None or p99 is None:
        raise RuntimeError(f"ProducerPerformance printed no summary: {last}")
    return {"records_per_s": float(rate.group(1)), "p50_ms": float(p50.group(1)), "p99_ms": float(p99.group(1))}


def python_round_trip(bootstrap: str, count: int = 20_000, forwarders: int = 4, sinks: int = 4) -> dict[str, float]:
    """`count` messages: one producer → `forwarders` consumers that produce each message on → `sinks` consumers,
    100 partitions each way, acks=all, idempotent; plain confluent-kafka poll loops, auto-commit."""
    tag = uuid.uuid4().hex[:8]
    first, second = f"bench-rt-{tag}-in", f"bench-rt-{tag}-out"
    _create(bootstrap, first, 100)
    _create(bootstrap, second, 100)
    common = {"bootstrap.servers": bootstrap, "socket.nagle.disable": True}
    producer_config = {**common, "acks": "all", "enable.idempotence": True, "linger.ms": 5}
    stop = threading.Event()
    received = [0] * sinks
    done = threading.Event()

    def consumer(group: str) -> Consumer:
        return Consumer({**common, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": True})

    def forward() -> None:
        c, p = consumer(f"bench-rt-{tag}-forward"), Producer(producer_config)
        c.subscribe([first])
        while not stop.is_set():
            for m in c.consume(500, 0.1):
                if m.error() is None:
                    p.produce(second, m.value(), partition=m.partition() or 0)  # never None for a fetched message
            p.poll(0)
        p.flush(10)
        c.close()

    def sink(index: int) -> None:
        c = consumer(f"bench-rt-{tag}-sink")
        c.subscribe([second])
        while not stop.is_set():
            received[index] += sum(1 for m in c.consume(500, 0.1) if m.error() is None)
            if sum(received) >= count:
                done.set()
        c.close()

    threads = [threading.Thread(target=forward) for _ in range(forwarders)]
    threads += [threading.Thread(target=sink, args=(i,)) for i in range(sinks)]
    for t in threads:
        t.start()
    source = Producer(producer_config)
    source.produce(first, b"w", partition=0)  # one message first, so the timed run starts on settled groups
    source.flush(30)
    deadline = time.monotonic() + 120
    while sum(received) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.monotonic()
    payload = b"x" * RECORD_BYTES
    for i in range(count - 1):
        while True:
            try:
                source.produce(first, payload, partition=i % 100)
                break
            except BufferError:
                source.poll(0.01)
        source.poll(0)
    source.flush(120)
    complete = done.wait(600)
    seconds = time.monotonic() - start
    stop.set()
    for t in threads:
        t.join(30)
    _delete(bootstrap, first, second)
    return {"messages": count, "seconds": seconds, "per_second": (count - 1) / seconds, "complete": complete}
