"""How soon a freshly wiped 3-broker cluster is warm, per JVM and ahead-of-time cache (issue 38). A benchmark.

    python -m bench.warm_start                                  # every variant, 3 runs each
    python -m bench.warm_start --only jdk25-aot --repeat 2 --steady-at 600

Variants (all labkit's broker options, bench/jvm_matrix.py's choice: C2, SerialGC, nice 10):
  first-start        the pinned JDK 25 with no cache: `up(warm=True)` as a new machine's first `cluster up` does
                     (warm-up, training load; broker 1 records the cache), then `down` (the cache is written)
  jdk17              the system's JDK 17 (what labkit ran on before), no cache
  jdk25              the pinned JDK 25, no cache
  jdk25-aot          JDK 25 mapping the cache first-start trained (classes loaded and linked, and method profiles)
  jdk25-aot-classes  the same cache with its profiles ignored (-XX:-AOTReplayTraining): classes only
  jdk25-aot-c3       the cache, and three compiler threads instead of the two a 2-core machine gets
  jdk25-aot-c1       the cache with C1 only (-XX:TieredStopAtLevel=1): how soon warm without C2's compiling
  jdk25-aot-nicejit  the cache, the compiler threads at nice 19 (the rest of the broker at 10): serving first
  jdk25-aot-eager    the cache, and its profiled methods compiled at once at start (-XX:+AOTCompileEagerly)
  jdk25-aot-t4       the cache, C2 only for methods 4 times hotter than by default (Tier4*Threshold x4)
Per run, on a wiped cluster, times from the `up` call: brokers answering (registered); then the plain pipe
(labkit.measurement.pipe, no labkit code) at 250/s in 5-s windows until --watch s: 'warm at' is the end of the
second of two consecutive windows with p99 <= 250 ms (when `cluster up` would return). The brokers' compiler
threads' CPU until --steady-at s; then the pipe at 250/s and 500/s for 15 s each (steady state), and the brokers'
RSS. Written to artifacts/bench/warm-start.jsonl; a table is printed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from labkit.cluster.aot import AotCache
from labkit.cluster.broker import JVM_OPTIONS, BrokerTuning
from labkit.cluster.jars import ensure_classpath
from labkit.cluster.java import find_java
from labkit.cluster.local import LocalCluster
from labkit.cluster.warmup import WARM_P99_MS, compiled_between, compiler_cpu_seconds
from labkit.measurement.pipe import PlainPipe

ARTIFACTS = Path("artifacts/bench")
HOME = Path(os.environ.get("LABKIT_WARM_HOME", "/tmp/labkit-warm-start"))
AOT_DIR = HOME / "aot"
KAFKA_PORT, REDIS_PORT = 23092, 23379
JDK17 = Path("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")
WINDOW = 5.0
RATE = 250.0
VARIANTS = (
    "first-start",
    "jdk17",
    "jdk25",
    "jdk25-aot",
    "jdk25-aot-classes",
    "jdk25-aot-c3",
    "jdk25-aot-c1",
    "jdk25-aot-nicejit",
    "jdk25-aot-eager",
    "jdk25-aot-t4",
)


def cache() -> AotCache:
    java = find_java(None)
    return AotCache.for_jvm(AOT_DIR, java, ensure_classpath(HOME), JVM_OPTIONS)


def tuning(variant: str) -> BrokerTuning:
    """The variant's JVM, with the cache given by hand (aot_dir=None: labkit neither trains nor picks one)."""
    if variant == "jdk17":
        return BrokerTuning(java=JDK17, aot_dir=None)
    if variant == "jdk25":
        return BrokerTuning(aot_dir=None)
    extra = {
        "jdk25-aot": (),
        "jdk25-aot-classes": ("-XX:+UnlockDiagnosticVMOptions", "-XX:-AOTReplayTraining"),
        "jdk25-aot-c3": ("-XX:CICompilerCount=3",),
        "jdk25-aot-c1": ("-XX:TieredStopAtLevel=1",),
        "jdk25-aot-nicejit": ("-XX:-UseDynamicNumberOfCompilerThreads",),
        "jdk25-aot-eager": ("-XX:+UnlockExperimentalVMOptions", "-XX:+AOTCompileEagerly"),
        "jdk25-aot-t4": (
            "-XX:Tier4InvocationThreshold=20000",
            "-XX:Tier4MinInvocationThreshold=2400",
            "-XX:Tier4CompileThreshold=60000",
            "-XX:Tier4BackEdgeThreshold=160000",
        ),
    }[variant]
    return BrokerTuning(jvm_options=(*JVM_OPTIONS, *cache().use_options(), *extra), aot_dir=None)


def first_start() -> dict[str, Any]:
    """A new machine's first `up(warm=True)`: no cache, broker 1 records one; `down` writes it."""
    cache().discard()
    cluster = LocalCluster(HOME, BrokerTuning(aot_dir=AOT_DIR))
    cluster.down(wipe=True)
    began = time.monotonic()
    cluster.up(3, KAFKA_PORT, REDIS_PORT, warm=True, progress=print)
    up_s = time.monotonic() - began
    began = time.monotonic()
    cluster.down(wipe=True)
    return {"up_s": round(up_s, 1), "down_s": round(time.monotonic() - began, 1), "cache": cache().exists()}


def measure(variant: str, watch: float, steady_at: float) -> dict[str, Any]:
    """One run on a wiped cluster: answering, the warm-up windows, compilers, steady state, RSS."""
    cluster = LocalCluster(HOME, tuning(variant))
    cluster.down(wipe=True)
    began = time.monotonic()
    state, _ = cluster.up(3, KAFKA_PORT, REDIS_PORT)
    answered = time.monotonic() - began
    pids = [b.pid for b in state.brokers if b.pid]
    if variant == "jdk25-aot-nicejit":
        for tid in compiler_cpu_seconds(pids):
            os.setpriority(os.PRIO_PROCESS, tid, 19)
    compilers_at_start = {tid: 0.0 for tid in compiler_cpu_seconds(pids)}
    windows: list[tuple[float, float]] = []
    try:
        with PlainPipe(state.bootstrap_servers, partitions=10, forwarders=2, sinks=2) as pipe:
            while time.monotonic() - began < watch:
                p99 = pipe.open_loop(RATE, WINDOW, timeout=30.0).p99_ms
                windows.append((round(time.monotonic() - began, 1), round(p99)))
            while time.monotonic() - began < steady_at:
                time.sleep(1.0)  # idle until the steady-state measurement, as a cluster waits for its learner
            compiled = compiled_between(compilers_at_start, compiler_cpu_seconds(pids))
            steady = {f"p99_{rate:.0f}": round(pipe.open_loop(rate, 15.0).p99_ms) for rate in (250.0, 500.0)}
        rss = sum(_rss_mb(pid) for pid in pids)
    finally:
        cluster.down(wipe=True)
    return {
        "answered_s": round(answered, 1),
        "windows": windows,
        "warm_at_s": warm_at(windows),
        "compiler_cpu_s": round(compiled, 1),
        **steady,
        "rss_mb": round(rss),
    }


def warm_at(windows: list[tuple[float, float]]) -> float | None:
    """The end of the second of the first two consecutive windows at or under the bound."""
    for (_, first), (end, second) in itertools.pairwise(windows):
        if first <= WARM_P99_MS and second <= WARM_P99_MS:
            return end
    return None


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def print_table(results: list[dict[str, Any]]) -> None:
    heads = ("answer s", "warm at s", "JIT CPU s", "p99 250", "p99 500", "RSS MB")
    print(f"{'variant':20} " + " ".join(f"{h:>9}" for h in heads))
    for r in results:
        if r["variant"] == "first-start":
            print(f"{'first-start':20} up {r['up_s']} s, down {r['down_s']} s, cache written: {r['cache']}")
            continue
        print(
            f"{r['variant']:20} {r['answered_s']:9} {r['warm_at_s'] or '-':>9} {r['compiler_cpu_s']:9} "
            f"{r['p99_250']:9} {r['p99_500']:9} {r['rss_mb']:9}"
        )


def record(variant: str, run: int, result: dict[str, Any]) -> dict[str, Any]:
    """One result, printed and appended to the jsonl file."""
    row = {"variant": variant, "run": run, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **result}
    print(json.dumps(row), flush=True)
    with (ARTIFACTS / "warm-start.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", default=",".join(VARIANTS), help="comma-separated variants")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--watch", type=float, default=60.0, help="s of 5-s pipe windows from the up call")
    parser.add_argument("--steady-at", type=float, default=120.0, help="s from the up call to the steady state")
    args = parser.parse_args()
    variants = args.only.split(",")
    if unknown := set(variants) - set(VARIANTS):
        parser.error(f"unknown variant(s) {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results = []
    for run in range(args.repeat):
        for variant in variants:
            if variant == "jdk17" and not JDK17.is_file():
                print(f"jdk17 skipped: no {JDK17} on this machine")
                continue
            if variant.startswith("jdk25-aot") and not cache().exists():
                results.append(record("first-start", run, first_start()))
            result = first_start() if variant == "first-start" else measure(variant, args.watch, args.steady_at)
            results.append(record(variant, run, result))
    print_table(results)


if __name__ == "__main__":
    main()
