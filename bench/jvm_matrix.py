"""The brokers' JVM and replica settings measured against each other (issue 22): one fresh 3-broker cluster per
configuration, the same sequence of loads on each, on the plain pipe (no labkit code) and on labkit.

    python -m bench.jvm_matrix                 # every configuration once
    python -m bench.jvm_matrix --only c2-serial-f4,c1-g1-f1 --repeat 2

Per configuration, in this order (open loop, latency from each scheduled send, 15-s windows unless said):
  cold start      `up` (wiped) → brokers registered; → the pipe's first probe through every partition
  pipe created    100/s for 30 s right after the pipe's two 100-partition topics were created (2-s windows)
  pipe cold/warm  250, 500, 100, 250, 500/s
  setup_event     the pipe at 100/s for 30 s while an event's topics are created (2-s windows)
  labkit          4 + 4 consumer threads: 100/s for 30 s from when they are ready (2-s windows), 250, 500/s
  teardown_event  the pipe at 100/s for 30 s while the event's topics are deleted (2-s windows)
The brokers' CPU (cores, from /proc) and their JIT compiler threads' CPU are sampled each second; 'JIT settled'
is the time from `up` until the compiler threads last used more than 0.1 core over 5 s.
Written to artifacts/bench/jvm-matrix.jsonl (one line per run); a table is printed at the end. A benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from labkit import Lab
from labkit.cluster.broker import BrokerTuning
from labkit.cluster.local import LocalCluster
from labkit.cluster.warmup import compiled_between, compiler_cpu_seconds, cpu_seconds
from labkit.experiments.latency import open_loop_samples
from labkit.measurement.latency_stats import LatencySummary, settled_after, summarize_latency, window_p99s
from labkit.measurement.pipe import PlainPipe
from labkit.settings import Settings

ARTIFACTS = Path("artifacts/bench")
HOME = Path(os.environ.get("LABKIT_MATRIX_HOME", "/tmp/labkit-jvm-matrix"))
KAFKA_PORT, REDIS_PORT = 23092, 23379  # apart from the tests' (below the ephemeral range, as theirs)
SLOW_MS = 250.0  # a window is 'slow' while its p99 is above this (the bound at 100/s)
COMMON = ("-Xms256m", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")
C1 = ("-XX:TieredStopAtLevel=1",)
C2_ONLY = ("-XX:-TieredCompilation", "-XX:CICompilerCount=1")  # interpreter, then C2 for the hottest code only
G1 = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")
SERIAL = ("-XX:+UseSerialGC",)
PARALLEL = ("-XX:+UseParallelGC",)
JDK25 = Path("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")
JDK17 = Path("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")


# Followers fetch at most every 20 (50) ms unless 16 KB are waiting, instead of as soon as one byte is: fewer,
# fuller replica fetches (the profile's fetch handling), acks=all waiting up to 20 (50) ms more.
BATCHED_REPLICATION = {"replica.fetch.min.bytes": "16384", "replica.fetch.wait.max.ms": "20"}
SLOWER_REPLICATION = {"replica.fetch.min.bytes": "16384", "replica.fetch.wait.max.ms": "50"}


def _tuning(
    jvm: tuple[str, ...], fetchers: int, java: Path | None = None, properties: dict[str, str] | None = None
) -> BrokerTuning:
    props = {"num.replica.fetchers": str(fetchers), **(properties or {})}
    # JDK 17 unless said, as when these were measured; no AOT cache (bench/warm_start.py measures those)
    return BrokerTuning(jvm_options=(*COMMON, *jvm), properties=props, java=java or JDK17, aot_dir=None)


CONFIGS: dict[str, BrokerTuning] = {
    "c1-g1-f1": _tuning((*C1, *G1), 1),  # labkit's settings before this matrix
    "c2-g1-f1": _tuning(G1, 1),
    "c2-serial-f1": _tuning(SERIAL, 1),
    "c2-parallel-f1": _tuning(PARALLEL, 1),
    "c2-serial-f2": _tuning(SERIAL, 2),
    "c2-serial-f4": _tuning(SERIAL, 4),
    "c1-serial-f4": _tuning((*C1, *SERIAL), 4),
    "c2-serial-f8": _tuning(SERIAL, 8),
    "c2only-serial-f4": _tuning((*C2_ONLY, *SERIAL), 4),
    "c1-serial-f8": _tuning((*C1, *SERIAL), 8),
    "c2-serial-f16": _tuning(SERIAL, 16),
    "c2-serial-f4-jdk25": _tuning(SERIAL, 4, java=JDK25),
    "c2-serial-f4-rf20": _tuning(SERIAL, 4, properties=BATCHED_REPLICATION),
    "c1-serial-f4-rf20": _tuning((*C1, *SERIAL), 4, properties=BATCHED_REPLICATION),
    "c2-serial-f1-rf20": _tuning(SERIAL, 1, properties=BATCHED_REPLICATION),
    "c2-serial-f1-rf50": _tuning(SERIAL, 1, properties=SLOWER_REPLICATION),
    "c1-serial-f1-rf50": _tuning((*C1, *SERIAL), 1, properties=SLOWER_REPLICATION),
}


class CpuSampler:
    """Each second: the brokers' CPU seconds in all, and those of their JIT compiler threads."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._compilers: dict[int, float] = {}
        self._compiled = 0.0  # compiler CPU seconds, summed by thread over the readings
        # (monotonic, brokers' CPU s, their compiler threads' CPU s, this process's CPU s, the machine's busy CPU s)
        self.samples: list[tuple[float, float, float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jvm-matrix-cpu", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), *self.read()))
            self._stop.wait(1.0)

    def read(self) -> tuple[float, float, float, float]:
        brokers = sum(cpu_seconds(Path(f"/proc/{pid}/stat")) for pid in self.pids)
        own = cpu_seconds(Path("/proc/self/stat"))  # the clients: pipe, labkit's threads, librdkafka
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        machine = (sum(cpu) - cpu[3] - cpu[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        compilers = compiler_cpu_seconds(self.pids)
        self._compiled += compiled_between(self._compilers, compilers)
        self._compilers = compilers
        return brokers, self._compiled, own, machine

    def cores(self, since: float, until: float) -> tuple[float, ...]:
        """Mean cores used between two monotonic times: brokers, their compilers, this process, the machine."""
        inside = [s for s in self.samples if since <= s[0] <= until]
        if len(inside) < 2:
            return (float("nan"),) * 4
        first, last = inside[0], inside[-1]
        return tuple((b - a) / (last[0] - first[0]) for a, b in zip(first[1:], last[1:], strict=True))

    def jit_settled(self, since: float, window: float = 5.0, busy: float = 0.1) -> float | None:
        """Seconds from `since` to the end of the last `window` in which the compilers used more than `busy`."""
        last = None
        for i, (t, _, c, _, _) in enumerate(self.samples):
            earlier = [s for s in self.samples[:i] if t - s[0] >= window]
            if earlier and (c - earlier[-1][2]) / (t - earlier[-1][0]) > busy:
                last = t
        return None if last is None else last - since


def _phase(
    name: str, cpu: CpuSampler, run: Callable[[], tuple[list[float], list[float | None]]], rate: float
) -> dict[str, Any]:
    began, began_wall = time.monotonic(), time.time()
    starts, ends = run()
    summary: LatencySummary = summarize_latency(rate, starts, ends)
    brokers, compilers, clients, machine = cpu.cores(began, time.monotonic())
    row: dict[str, Any] = {"phase": name, **summary.row(), "brokers_cores": round(brokers, 2)}
    row.update(clients_cores=round(clients, 2), machine_cores=round(machine, 2))
    row["wall"] = (round(began_wall, 1), round(time.time(), 1))  # to cut a JFR recording by phase
    row["compiler_cores"] = round(compilers, 2)
    if rate == 100 and len(starts) >= 2_000:  # the 30-s windows: how long the slow phase lasted
        row["settled_s"] = settled_after(starts, ends, SLOW_MS)
        row["windows_p99_ms"] = window_p99s(starts, ends)
    cores = f"brokers {brokers:4.2f} clients {clients:4.2f} all {machine:4.2f} cores"
    settled = f"  settled {row['settled_s']} s" if "settled_s" in row else ""
    print(f"  {name:<28} p50 {summary.p50_ms:8.1f}  p99 {summary.p99_ms:8.1f} ms  {cores}{settled}", flush=True)
    return row


def measure(name: str, tuning: BrokerTuning, jfr: Path | None = None) -> dict[str, Any]:
    if jfr is not None:  # every broker records until it stops: `jfr print` the files, cut by the phases' "wall"
        (jfr / name).mkdir(parents=True, exist_ok=True)  # a folder: each JVM names its file by its pid
        recording = f"-XX:StartFlightRecording=settings=profile,dumponexit=true,filename={jfr / name}"
        tuning = replace(tuning, jvm_options=(*tuning.jvm_options, recording))
    cluster = LocalCluster(HOME, tuning)
    cluster.down(wipe=True)
    result: dict[str, Any] = {"config": name, "jvm": tuning.jvm_options, "properties": dict(tuning.properties)}
    t0 = time.monotonic()
    state, _ = cluster.up(brokers=3, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    result["cold_start_s"] = round(time.monotonic() - t0, 1)
    settings = replace(
        Settings.from_env({}),
        kafka_bootstrap_servers=state.bootstrap_servers,
        redis_url=state.redis_url,
        home=HOME,
    )
    phases: list[dict[str, Any]] = []
    pids = [b.pid for b in state.brokers if b.pid]
    try:
        with CpuSampler(pids) as cpu, PlainPipe(state.bootstrap_servers) as pipe, Lab(settings) as lab:
            result["first_round_trip_s"] = round(time.monotonic() - t0, 1)
            print(f"{name}: cold start {result['cold_start_s']} s, first round trip {result['first_round_trip_s']} s")

            def piped(rate: float, seconds: float) -> Callable[[], tuple[list[float], list[float | None]]]:
                return lambda: pipe.open_loop_samples(rate, seconds)

            def during(action: Callable[[], object]) -> Callable[[], tuple[list[float], list[float | None]]]:
                def run() -> tuple[list[float], list[float | None]]:
                    starts, ends, took = pipe.open_loop_during(action, 100, 30)
                    phases_took.append(round(took, 1))
                    return starts, ends

                return run

            phases_took: list[float] = []  # setup_event's and teardown_event's seconds
            phases.append(_phase("pipe created 100/s", cpu, piped(100, 30), 100))
            for label, rate in (("cold", 250), ("cold", 500), ("warm", 100), ("warm", 250), ("warm", 500)):
                phases.append(_phase(f"pipe {label} {rate}/s", cpu, piped(rate, 15), rate))
            event_id = random.randint(10**6, 10**9)
            phases.append(_phase("pipe during setup_event", cpu, during(lambda: lab.setup_event(event_id)), 100))
            ready = time.monotonic()
            lab.start_consumers(ticketing=4, seat_reservation=4, event_id=event_id)
            lab.wait_for_consumers(timeout=120)
            result["consumers_ready_s"] = round(time.monotonic() - ready, 1)

            def booked(rate: float, seconds: float) -> Callable[[], tuple[list[float], list[float | None]]]:
                return lambda: open_loop_samples(lab, event_id, rate, seconds, seed=3)

            phases.append(_phase("labkit after setup 100/s", cpu, booked(100, 30), 100))
            for rate in (250, 500):
                phases.append(_phase(f"labkit warm {rate}/s", cpu, booked(rate, 15), rate))
            lab.stop_consumers()
            teardown = during(lambda: lab.teardown_event(event_id))
            phases.append(_phase("pipe during teardown_event", cpu, teardown, 100))
            result["setup_event_s"], result["teardown_event_s"] = phases_took
            result["settling"] = str(lab.last_settling)
            result["jit_settled_s"] = cpu.jit_settled(t0)
            result["compiler_cpu_s"] = round(cpu.samples[-1][2] - cpu.samples[0][2], 1)
    finally:
        cluster.down(wipe=True)
    result["phases"] = phases
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    names = [p["phase"] for p in results[0]["phases"]]
    print(f"\n{'phase (p50 / p99 ms, brokers cores)':<30}" + "".join(f"{r['config']:>26}" for r in results))
    keys = ("cold_start_s", "first_round_trip_s", "setup_event_s", "consumers_ready_s", "teardown_event_s")
    for key in (*keys, "jit_settled_s", "compiler_cpu_s"):
        print(f"{key:<30}" + "".join(f"{r.get(key)!s:>26}" for r in results))
    for i, name in enumerate(names):
        cells = []
        for r in results:
            p = r["phases"][i]
            settled = f" s{p['settled_s']}" if "settled_s" in p else ""
            cells.append(f"{p['p50_ms']:.0f}/{p['p99_ms']:.0f} {p['brokers_cores']:.2f}c{settled}")
        print(f"{name:<30}" + "".join(f"{c:>26}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CONFIGS), help=f"configurations, of: {', '.join(CONFIGS)}")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration (interleaved)")
    parser.add_argument("--jfr", type=Path, help="a folder: record every broker with JFR into it")
    args = parser.parse_args()
    chosen = args.only.split(",")
    unknown = [c for c in chosen if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results = []
    for run in range(args.repeat):
        for name in chosen:
            result = {
                "run": run + 1,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                **measure(name, CONFIGS[name], args.jfr),
            }
            results.append(result)
            with (ARTIFACTS / "jvm-matrix.jsonl").open("a") as out:
                out.write(json.dumps(result) + "\n")
    print_table(results)


if __name__ == "__main__":
    main()
