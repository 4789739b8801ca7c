"""`make bench`: bookings/s end to end vs a raw Kafka round trip, on the same 3-broker cluster, in one run.

A benchmark, not a test: it prints figures. Bookings: first request sent → last outcome recorded, over all 100
subsections of the default venue, with 4 ticketing + 4 seat-reservation consumers (threads or processes).
Baseline: the same number of messages produced → consumed → produced → consumed by 4 + 4 consumers that do
nothing else, with the same consumer and producer code (batches, acks=all, idempotence, commit per batch).
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from dataclasses import replace

from confluent_kafka.admin import NewTopic

from labkit import Lab
from labkit.consumers import ConsumerProcesses
from labkit.kafka.admin import ResetPlan, apply_reset
from labkit.kafka.clients import admin_client
from labkit.kafka.producer import ReliableProducer
from labkit.kafka.worker import BatchWorker
from labkit.load import send_burst, wait_for_outcomes
from labkit.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder


def bookings_run(lab: Lab, count: int, mode: str) -> dict[str, float]:
    event_id = random.randint(10**6, 10**9)
    lab.setup_event(event_id)
    processes = ConsumerProcesses(replace(lab.settings, event_id=event_id), stop_with_owner=True)
    if mode == "threads":
        lab.start_consumers(ticketing=4, seat_reservation=4, event_id=event_id)
    else:
        processes.start(4, 4)
    processes.wait_for_members(4, 4)
    try:
        send_burst(lab, event_id, count, (1, 4), seed=1)
        pending = wait_for_outcomes(lab, event_id, count, timeout=600)
    finally:
        lab.stop_consumers()
        processes.stop()
    frame = lab.bookings(event_id)
    drop_event_topics(lab, event_id)
    start = frame.requested_at.min().timestamp() * 1000
    end = (frame.requested_at.map(lambda t: t.timestamp() * 1000) + frame.latency_ms).max()
    seconds = (end - start) / 1000
    return {"bookings": count, "pending": pending, "seconds": seconds, "per_second": count / seconds,
            "p50_ms": frame.latency_ms.quantile(0.5), "p99_ms": frame.latency_ms.quantile(0.99),
            "reserved": int((frame.status == "RESERVED").sum())}


def drop_event_topics(lab: Lab, event_id: int) -> None:
    """Delete the run's topics and groups: every partition left behind costs the brokers CPU on every fetch."""
    groups = [
        KafkaConsumerGroupBuilder.ticketing_service(event_id),
        KafkaConsumerGroupBuilder.seat_reservation_service(event_id),
    ]
    plan = ResetPlan(KafkaTopicBuilder.get_all_topics(event_id), groups, busy_groups={}, kept=[])
    apply_reset(admin_client(lab.bootstrap_servers), plan)


def baseline_run(bootstrap: str, count: int) -> dict[str, float]:
    """N messages: produce → 4 forwarders (consume, produce, commit once acknowledged) → 4 sinks (consume, commit)."""
    tag = random.randint(10**6, 10**9)
    first, second = f"bench-{tag}-in", f"bench-{tag}-out"
    admin = admin_client(bootstrap)
    for future in admin.create_topics([NewTopic(first, 100, 3), NewTopic(second, 100, 3)]).values():
        future.result(60)
    received = 0
    done = threading.Event()
    lock = threading.Lock()
    producers = [ReliableProducer(bootstrap, f"bench-forward-{i}") for i in range(4)]

    def forward(producer: ReliableProducer):  # type: ignore[no-untyped-def]
        def handle(batch):  # type: ignore[no-untyped-def]
            for m in batch:
                producer.send(second, m.value(), key=m.key())
        return handle

    def sink(batch):  # type: ignore[no-untyped-def]
        nonlocal received
        with lock:
            received += len(batch)
            if received >= count:
                done.set()

    workers = [BatchWorker(bootstrap, f"bench-{tag}-forward", [first], f"bench-forward-{i}", forward(producers[i]),
                           producers[i])
               for i in range(4)]
    workers += [BatchWorker(bootstrap, f"bench-{tag}-sink", [second], f"bench-sink-{i}", sink) for i in range(4)]
    for w in workers:
        w.start()
    source = ReliableProducer(bootstrap, "bench-source")
    payload = b"x" * 200  # about the size of a reserve-seats message
    start = time.monotonic()
    for i in range(count):
        source.send(first, payload, partition=i % 100)
    source.confirm(120)
    done.wait(600)
    seconds = time.monotonic() - start
    for w in workers:
        w.stop()
    for p in [*producers, source]:
        p.close()
    admin.delete_topics([first, second])
    return {"messages": count, "seconds": seconds, "per_second": count / seconds, "complete": received >= count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--modes", default="threads,processes", help="comma-separated: threads, processes")
    parser.add_argument("--warmup", type=int, default=5_000, help="messages and bookings run first, not reported")
    args = parser.parse_args()
    with Lab() as lab:
        lab.up(brokers=3)
        if args.warmup:  # fresh broker JVMs compile their hot paths in the first minute: 874/s vs 2,892/s measured
            baseline_run(lab.bootstrap_servers, args.warmup)
            bookings_run(lab, args.warmup, "threads")
        results = {mode: bookings_run(lab, args.count, mode) for mode in args.modes.split(",")}
        base = baseline_run(lab.bootstrap_servers, args.count)
    print(f"raw Kafka round trip: {base['messages']} messages in {base['seconds']:.1f} s = {base['per_second']:.0f}/s")
    for mode, r in results.items():
        print(f"bookings ({mode}): {r['bookings']} in {r['seconds']:.1f} s = {r['per_second']:.0f}/s end to end, "
              f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, reserved {r['reserved']}, pending {r['pending']}, "
              f"ratio to baseline {r['per_second'] / base['per_second']:.2f}")


if __name__ == "__main__":
    main()
