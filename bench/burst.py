"""The peak-burst section of `make bench` alone, beside the plain round trip, optionally under py-spy:

    python -m bench.burst --modes threads,processes --runs 2 --profile artifacts/profile

Starts the cluster if none runs (`labkit cluster up`'s warm-up included). A benchmark tool, not a test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import pipe
from bench.bench import cpu_row, peak_burst
from labkit import Lab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000, help="bookings per burst (default 20,000)")
    parser.add_argument("--modes", default="threads,processes", help="consumers as threads, processes or both")
    parser.add_argument("--runs", type=int, default=1, help="bursts per mode")
    parser.add_argument("--profile", type=Path, help="folder for py-spy's raw stacks (one file per process)")
    args = parser.parse_args()
    with Lab() as lab:
        lab.up(brokers=3)
        raw = pipe.python_round_trip(lab.bootstrap_servers, args.count)["per_second"]
        print(f"plain confluent-kafka round trip: {raw:,.0f} messages/s", flush=True)
        for run in range(args.runs):
            for mode in args.modes.split(","):
                b = peak_burst(lab, args.count, mode, args.profile)
                print(
                    f"burst {run + 1} ({mode}): {b['per_second']:,.0f}/s, ratio {b['per_second'] / raw:.2f}, "
                    f"p50 {b['p50_ms']:,.0f} ms, missing {b['missing']}; CPU per booking {cpu_row(b)}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
