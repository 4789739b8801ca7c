"""`make bench`: the booking path's latency and throughput against the pipe's own limits, in one run on one
3-broker cluster (RF 3, acks=all), with 4 ticketing + 4 seat-reservation consumers. A benchmark, not a test.

Sections, in order (each starts from what the previous left: one cluster, JVMs warming up as they go):
  pipe        Kafka's EndToEndLatency and ProducerPerformance; a plain confluent-kafka round trip
  up          `lab.up()`: with the warm-up if this run started the brokers (a wiped cluster: cold start)
  cold        a fresh event, consumers just settled, a burst of 1,000: first send → last outcome
  topics      the plain pipe at 100/s during setup_event and teardown_event: how long p99 stays > 250 ms;
              labkit at 100/s on a fresh event from when its consumers are ready
  idle        200 bookings one at a time (book → wait), p50 / p99
  load        open-loop streams at rising rates (latency from each booking's scheduled send time)
  burst       20,000 bookings as fast as they can be sent, threads and processes; ratio to the raw round trip
  partitions  idle latency and 500/s again with 10 idle events' topics present, then those events deleted
Printed as a table; written to artifacts/bench/ as bench.json, load.csv and load.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import pipe
from bench.cpu import CpuMeter
from labkit import Lab, SeatingConfig
from labkit.cluster.local import LocalCluster
from labkit.experiments.latency import (
    Sweep,
    compare_with_pipe,
    one_at_a_time,
    open_loop,
    open_loop_samples,
    sustainable_rate,
)
from labkit.experiments.load import send_burst, wait_for_outcomes
from labkit.measurement.latency_stats import settled_after, summarize_latency, window_p99s
from labkit.measurement.pipe import PlainPipe
from labkit.services.consumer_processes import ConsumerProcesses
from labkit.services.workers import SERVICES

ARTIFACTS = Path("artifacts/bench")
# The load sweep's venue: the default layout (100 subsections, 100 partitions per topic) with 10x the rows, so
# that a 15 s stream at 2,000/s (~75,000 seats) does not sell out and turn into cheap SOLD_OUT answers.
SWEEP_VENUE = SeatingConfig(rows=250)
SLOW_MS = 250.0  # a 2-s window at 100/s with a p99 over this is part of a slow phase


def fresh_event(lab: Lab, seating: SeatingConfig | None = None) -> int:
    event_id = random.randint(10**6, 10**9)
    lab.setup_event(event_id, seating)
    return event_id


def with_consumers(lab: Lab, event_id: int) -> None:
    lab.start_consumers(ticketing=4, seat_reservation=4, event_id=event_id)
    lab.wait_for_consumers(timeout=120)


def done_with(lab: Lab, event_id: int) -> None:
    lab.stop_consumers()
    lab.teardown_event(event_id, wait_for_members=30)


def cold_burst(lab: Lab, count: int) -> dict[str, Any]:
    """A fresh event, its consumers just settled: first send → last outcome of `count` bookings."""
    event_id = fresh_event(lab)
    with_consumers(lab, event_id)
    try:
        send_burst(lab, event_id, count, (1, 4), seed=2)
        missing = wait_for_outcomes(lab, event_id, count, timeout=300)
        return {"bookings": count, "missing": missing, **burst_figures(lab, event_id)}
    finally:
        done_with(lab, event_id)


def burst_figures(lab: Lab, event_id: int) -> dict[str, float]:
    frame = lab.bookings(event_id)
    sent_ms = frame.requested_at.map(lambda t: t.timestamp() * 1000)
    seconds = ((sent_ms + frame.latency_ms).max() - sent_ms.min()) / 1000
    return {
        "seconds": seconds,
        "per_second": len(frame) / seconds,
        "p50_ms": frame.latency_ms.quantile(0.5),
        "p99_ms": frame.latency_ms.quantile(0.99),
    }


def peak_burst(lab: Lab, count: int, mode: str, profile: Path | None = None) -> dict[str, Any]:
    """`count` bookings sent as fast as possible to a fresh event; consumers as threads or as processes.

    Also the CPU seconds the burst cost, from first send to last outcome: this process (the sender, and in
    `threads` mode the consumers too) and each service's consumer processes; per booking, both services together.
    `profile`: a folder for py-spy's sampled stacks of this process and of one consumer process per service.
    """
    event_id = fresh_event(lab)
    processes = ConsumerProcesses(replace(lab.settings, event_id=event_id), stop_with_owner=True)
    if mode == "threads":
        lab.start_consumers(ticketing=4, seat_reservation=4, event_id=event_id)
    else:
        processes.start(4, 4)
    processes.wait_for_members(4, 4)
    pids = {service: [p.pid for p in processes.list() if p.service == service and p.pid] for service in SERVICES}
    state = LocalCluster(lab.settings.home).load()
    servers = {}  # their CPU is printed beside, not counted per booking
    if state is not None:
        servers = {"brokers": [b.pid for b in state.brokers if b.pid], "redis": [state.redis_pid or 0]}
    labkit_processes = {"this process": [os.getpid()], **pids}
    meter = CpuMeter({**labkit_processes, **servers}).start()
    profilers = [] if profile is None else start_profilers(profile, mode, labkit_processes)
    try:
        send_burst(lab, event_id, count, (1, 4), seed=1)
        missing = wait_for_outcomes(lab, event_id, count, timeout=600)
        cpu = meter.stop()
    finally:
        stop_profilers(profilers)
        lab.stop_consumers()
        processes.stop()
    figures: dict[str, Any] = {"bookings": count, "missing": missing, **burst_figures(lab, event_id)}
    figures["cpu_s"] = {name: round(seconds, 2) for name, seconds in cpu.items()}
    python = sum(seconds for name, seconds in cpu.items() if name not in servers)
    figures["cpu_ms_per_booking"] = python * 1000 / count  # labkit's processes: both services, the sender
    lab.teardown_event(event_id, wait_for_members=30)
    return figures


def start_profilers(folder: Path, mode: str, groups: dict[str, list[int]]) -> list[subprocess.Popen[bytes]]:
    """py-spy sampling the first process of each group (with its native frames: librdkafka, hiredis) until
    stopped; raw collapsed stacks in `folder`, one file per process."""
    folder.mkdir(parents=True, exist_ok=True)
    started = []
    for name, pids in groups.items():
        if pids:
            out = folder / f"{mode}-{name.replace(' ', '-')}.txt"
            py_spy = str(Path(sys.executable).parent / "py-spy")
            command = [py_spy, "record", "--pid", str(pids[0]), "--format", "raw", "--rate", "250", "-o", str(out)]
            started.append(subprocess.Popen(command))
    return started


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for profiler in profilers:
        profiler.wait(60)


def with_idle_events(lab: Lab, events: int, idle_count: int, rate: float, seconds: float) -> dict[str, Any]:
    """Idle latency and one open-loop rate while `events` other events' topics sit idle on the cluster."""
    idle_events = [fresh_event(lab) for _ in range(events)]
    try:
        event_id = fresh_event(lab, SWEEP_VENUE)
        with_consumers(lab, event_id)
        try:
            idle = one_at_a_time(lab, event_id, idle_count, seed=4)
            loaded = open_loop(lab, event_id, rate, seconds, seed=5)
        finally:
            done_with(lab, event_id)
    finally:
        for idle_event in idle_events:
            lab.teardown_event(idle_event)
    return {"idle_events": events, "idle": idle.row(), "load": loaded.row()}


def topic_changes(lab: Lab, rate: float = 100.0, seconds: float = 30.0) -> dict[str, Any]:
    """The plain pipe at `rate` for `seconds` while an event's topics are created (setup_event, which waits until
    the brokers answer quickly), then while they are deleted: how long its 2-s windows' p99 stayed over 250 ms
    from the start of each, and after setup_event returned."""
    event_id = random.randint(10**6, 10**9)
    with PlainPipe(lab.bootstrap_servers) as pipe:
        results: dict[str, Any] = {}
        for name, action in (
            ("setup_event", lambda: lab.setup_event(event_id, SWEEP_VENUE)),
            ("teardown_event", lambda: lab.teardown_event(event_id)),
        ):
            starts, ends, took = pipe.open_loop_during(action, rate, seconds)
            slow = settled_after(starts, ends, SLOW_MS)
            results[name] = {
                "took_s": round(took, 1),
                "slow_s": slow,  # None: still slow at the end of the stream
                "slow_after_return_s": None if slow is None else round(max(0.0, slow - took), 1),
                "windows_p99_ms": window_p99s(starts, ends),
                **summarize_latency(rate, starts, ends).row(),
            }
            if name == "setup_event":
                results[name]["settling"] = str(lab.last_settling)
    return results


def labkit_after_setup(lab: Lab, rate: float = 100.0, seconds: float = 30.0) -> dict[str, Any]:
    """labkit at `rate` on a fresh event from the moment its consumers are ready, in 2-s windows."""
    event_id = fresh_event(lab, SWEEP_VENUE)
    with_consumers(lab, event_id)
    try:
        starts, ends = open_loop_samples(lab, event_id, rate, seconds, seed=6)
    finally:
        done_with(lab, event_id)
    return {
        "slow_s": settled_after(starts, ends, SLOW_MS),
        "windows_p99_ms": window_p99s(starts, ends),
        **summarize_latency(rate, starts, ends).row(),
    }


def write_artifacts(results: dict[str, Any], load: Sweep) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "bench.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    load.frame().to_csv(ARTIFACTS / "load.csv", index=False)
    figure = load.plot("booking latency against offered load: labkit beside the plain pipe", target_ms=250)
    figure.savefig(ARTIFACTS / "load.png", dpi=120)
    plt.close(figure)


def labkit_curve(load: Sweep) -> str:
    """The curve of labkit's own bookings (compare_with_pipe names it first, "labkit, N partitions")."""
    return next(curve for curve in load.runs if curve.startswith("labkit"))


def load_rows(load: Sweep) -> list[tuple[str, str]]:
    """Per rate: each curve's p50 / p99, and labkit's p99 over each pipe's."""
    frame = load.frame().set_index(["offered_per_s", "curve"])
    labkit = labkit_curve(load)
    rows = []
    for rate in sorted({r for r, _ in frame.index}):
        parts = []
        for curve in load.runs:
            if (rate, curve) in frame.index:
                r = frame.loc[(rate, curve)]
                parts.append(f"{curve}: p50 {r.p50_ms:,.0f} / p99 {r.p99_ms:,.0f} ms")
        for curve in load.runs:
            if curve != labkit and (rate, curve) in frame.index and (rate, labkit) in frame.index:
                ratio = frame.loc[(rate, labkit)].p99_ms / frame.loc[(rate, curve)].p99_ms
                parts.append(f"labkit p99 / {curve} p99 = {ratio:.2f}")
        rows.append((f"open loop {rate:,.0f}/s", "; ".join(parts)))
    rows.append(("the sweep stopped", load.stopped))
    return rows


def cpu_row(burst: dict[str, Any]) -> str:
    """CPU per booking of both services together, and each process group's CPU seconds."""
    parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in burst["cpu_s"].items() if seconds)
    return f"{burst['cpu_ms_per_booking']:.2f} ms in labkit's processes (CPU: {parts})"


def print_table(results: dict[str, Any], load: Sweep) -> None:
    rows: list[tuple[str, str]] = []
    p = results["pipe"]
    rows.append(
        ("Kafka EndToEndLatency (1 partition)", f"p50 {p['e2e']['p50_ms']:.0f} ms, p99 {p['e2e']['p99_ms']:.0f} ms")
    )
    rows.append(("Kafka ProducerPerformance (100 partitions)", f"{p['perf']['records_per_s']:,.0f} records/s"))
    rows.append(("plain confluent-kafka round trip", f"{p['raw']['per_second']:,.0f} messages/s"))
    c = results["cold"]
    rows.append(
        (
            f"cold burst of {c['bookings']:,}",
            f"last outcome {c['seconds']:.2f} s after the first send, "
            f"p50 {c['p50_ms']:.0f} ms, p99 {c['p99_ms']:.0f} ms",
        )
    )
    w = results["warmup"]
    rows.append(
        (
            "cluster up",
            f"{results['up_s']:.0f} s"
            + (
                ""
                if w is None
                else f" to warm (pipe p99 <= 250 ms at 250/s in two windows: {w['settled']}), of which warm-up "
                f"{w['seconds']:.0f} s ({w['windows']} windows; the AOT cache: {w['aot_cache']})"
            ),
        )
    )
    for name, t in results["topic_changes"].items():
        slow = "still slow at the end" if t["slow_s"] is None else f"{t['slow_s']:.0f} s"
        after = "" if t["slow_after_return_s"] is None else f", {t['slow_after_return_s']:.0f} s after it returned"
        rows.append((f"pipe 100/s during {name}", f"took {t['took_s']:.1f} s; p99 > 250 ms for {slow}{after}"))
    a = results["labkit_after_setup"]
    slow = "still slow at the end" if a["slow_s"] is None else f"{a['slow_s']:.0f} s"
    rows.append(("labkit 100/s after setup_event", f"p99 {a['p99_ms']:,.0f} ms; p99 > 250 ms for {slow}"))
    i = results["idle"]
    rows.append((f"idle, {i['bookings']} one at a time", f"p50 {i['p50_ms']:.0f} ms, p99 {i['p99_ms']:.0f} ms"))
    rows += load_rows(load)
    sustainable = results["sustainable_per_s"]
    rows.append(
        ("sustainable (p99 <= 250 ms)", "none of the rates" if sustainable is None else f"{sustainable:,.0f}/s")
    )
    for mode, b in results["burst"].items():
        rows.append(
            (
                f"peak burst {b['bookings']:,} ({mode})",
                f"{b['per_second']:,.0f}/s, ratio to raw round trip {b['per_second'] / p['raw']['per_second']:.2f}",
            )
        )
        rows.append((f"  CPU per booking ({mode})", cpu_row(b)))
    if "partitions" in results:
        q = results["partitions"]
        rows.append(
            (
                f"with {q['idle_events']} idle events: idle",
                f"p50 {q['idle']['p50_ms']:.0f} ms, p99 {q['idle']['p99_ms']:.0f} ms",
            )
        )
        rows.append(
            (
                f"with {q['idle_events']} idle events: {q['load']['offered_per_s']:,.0f}/s",
                f"p50 {q['load']['p50_ms']:,.0f} ms, p99 {q['load']['p99_ms']:,.0f} ms",
            )
        )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000, help="bookings of the peak burst (default 20,000)")
    parser.add_argument("--modes", default="threads,processes", help="peak burst consumers: threads, processes")
    parser.add_argument("--rates", default="100,250,500,1000,1500,2000,3000", help="open-loop rates per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each open-loop stream")
    parser.add_argument("--idle-events", type=int, default=10, help="idle events for the partitions section (0 skips)")
    args = parser.parse_args()
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with Lab() as lab:
        began = time.monotonic()
        lab.up(brokers=3)
        results["up_s"] = round(time.monotonic() - began, 1)  # with the warm-up, if this run started the brokers
        results["warmup"] = None if lab.last_warmup is None else asdict(lab.last_warmup)
        home = lab.settings.home
        results["pipe"] = {
            "e2e": pipe.end_to_end_latency(home, lab.bootstrap_servers),
            "perf": pipe.producer_performance(home, lab.bootstrap_servers),
            "raw": pipe.python_round_trip(lab.bootstrap_servers, args.count),
        }
        results["cold"] = cold_burst(lab, 1_000)
        results["topic_changes"] = topic_changes(lab)
        results["labkit_after_setup"] = labkit_after_setup(lab)
        event_id = fresh_event(lab, SWEEP_VENUE)
        with_consumers(lab, event_id)
        try:
            results["idle"] = one_at_a_time(lab, event_id, 200, seed=3).row()
            rates = [float(r) for r in args.rates.split(",")]
            load = compare_with_pipe(lab, event_id, rates, args.seconds, seed=3)
        finally:
            done_with(lab, event_id)
        results["load"] = load.frame().to_dict("records")
        results["load_stopped"] = load.stopped
        results["sustainable_per_s"] = sustainable_rate(load.runs[labkit_curve(load)], 250.0)
        results["burst"] = {mode: peak_burst(lab, args.count, mode) for mode in args.modes.split(",")}
        if args.idle_events:
            results["partitions"] = with_idle_events(lab, args.idle_events, 200, 500.0, args.seconds)
    write_artifacts(results, load)
    print_table(results, load)
    print(f"written: {ARTIFACTS}/bench.json, load.csv, load.png")


if __name__ == "__main__":
    main()
