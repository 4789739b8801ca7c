"""Where the brokers' CPU went in a time window, from JFR recordings (`python -m bench.jvm_matrix --jfr DIR`).

    python -m bench.jfr_profile DIR/c2-serial-f4-*.jfr --since 1764567000 --until 1764567030

Prints the share of execution samples per thread group (request handlers, replica fetchers, network, …), the
hottest methods by self samples, and the methods most often on the stack (inclusive). Reads the recordings with
`jfr print` (the JDK's own tool) and the stacks' top `--depth` frames. A benchmark tool, not a test.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from labkit.cluster.java import find_java
from labkit.settings import java_home_from_env

_START = re.compile(r"startTime = (\d\d:\d\d:\d\d\.\d+)(?: \((\d{4}-\d\d-\d\d)\))?")  # JDK 17: no date
_THREAD = re.compile(r'sampledThread = "([^"]+)"')
_FRAME = re.compile(r"^\s+([\w$.<>]+)\(")
_GROUPS = (
    ("request handlers", "request-handler"),
    ("replica fetchers", "ReplicaFetcherThread"),
    ("network", "network-thread"),
    ("controller / raft", "raft"),
    ("controller / raft", "controller"),
    ("log cleaner / flush", "log"),
    ("group coordinator", "group-coordinator"),
)


def samples(jfr: Path, java_home: Path, depth: int, day: str) -> Iterator[tuple[float, str, list[str]]]:
    """(epoch seconds, thread name, frames top first) of each jdk.ExecutionSample in one recording; `day`
    (YYYY-MM-DD, UTC) for a JDK whose `jfr print` gives only the time of day."""
    out = subprocess.run(
        [
            str(java_home / "bin" / "jfr"),
            "print",
            "--events",
            "jdk.ExecutionSample",
            "--stack-depth",
            str(depth),
            str(jfr),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for block in out.split("jdk.ExecutionSample {")[1:]:
        start, thread = _START.search(block), _THREAD.search(block)
        if start is None or thread is None:
            continue
        when = datetime.fromisoformat(f"{start.group(2) or day}T{start.group(1)}").replace(tzinfo=UTC)
        frames = [m.group(1) for line in block.splitlines() if (m := _FRAME.match(line))]
        yield when.timestamp(), thread.group(1), frames


def group_of(thread: str) -> str:
    return next((name for name, part in _GROUPS if part in thread), "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recordings", nargs="+", type=Path)
    parser.add_argument("--since", type=float, default=0.0, help="epoch seconds (a phase's 'wall' in the matrix)")
    parser.add_argument("--until", type=float, default=float("inf"))
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--under", default="", help="only samples with this method on the stack")
    parser.add_argument("--java-home", type=Path, default=_java_home())
    parser.add_argument("--day", default=datetime.now(UTC).strftime("%Y-%m-%d"), help="UTC date")
    args = parser.parse_args()
    groups, hot, inclusive = Counter[str](), Counter[str](), Counter[str]()
    total = 0
    for jfr in args.recordings:
        for when, thread, frames in samples(jfr, args.java_home, args.depth, args.day):
            if not args.since <= when <= args.until or not frames or (args.under and args.under not in frames):
                continue
            total += 1
            groups[group_of(thread)] += 1
            hot[frames[0]] += 1
            inclusive.update(set(frames))
    print(f"{total} samples")
    for title, counter in (("thread groups", groups), ("self", hot), ("on the stack", inclusive)):
        print(f"\n{title}:")
        for name, n in counter.most_common(args.top):
            print(f"  {100 * n / max(total, 1):5.1f} %  {name}")


def _java_home() -> Path:
    """The JDK the brokers run on (the pinned one unless LABKIT_JAVA_HOME): its `jfr` reads their recordings."""
    return find_java(java_home_from_env()).parent.parent


if __name__ == "__main__":
    main()
