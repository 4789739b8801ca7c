"""Notebook 15's helpers around quixstreams: the kernel's signal handlers kept across `Application.run()`, the
topics quixstreams makes for a consumer group, the window sums a check expects, and a quixstreams program run
in a process of its own (to be SIGKILLed and started again).

The processing code itself stays on the notebook's page; these are the parts a lesson on state does not teach.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from labkit.errors import ConfigError, LabkitError
from labkit.kafka.admin import Admin
from labkit.kafka.cleanup import ResetPlan, apply_reset

INTERNAL_PREFIXES = ("changelog__", "repartition__")


@contextmanager
def signals_kept() -> Iterator[None]:
    """`Application.run()` installs its own SIGINT and SIGTERM handlers and leaves them behind: put the kernel's
    back, so that Jupyter's interrupt button raises KeyboardInterrupt again."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def internal_topics(topics: Iterable[str], groups: Iterable[str]) -> list[str]:
    """The changelog and repartition topics among `topics` that quixstreams made for these consumer groups
    (`changelog__<group>--<topic>--<store>`, `repartition__<group>--<topic>--<name>`)."""
    heads = tuple(f"{prefix}{group}--" for prefix in INTERNAL_PREFIXES for group in groups)
    return sorted(t for t in topics if t.startswith(heads))


def delete_internal_topics(admin: Admin, groups: Sequence[str]) -> list[str]:
    """Delete what quixstreams made for these groups: deleting the event deletes the groups, not these topics
    (their names begin with `changelog__`, not the event's)."""
    doomed = internal_topics(admin.client.list_topics(timeout=admin.timeout).topics, groups)
    if doomed:
        apply_reset(admin, ResetPlan(delete_topics=doomed, delete_groups=[], busy_groups={}, kept=[]), wait=False)
    return doomed


def window_sums(
    records: Iterable[tuple[str, int, int]], duration_ms: int, step_ms: int | None = None
) -> dict[tuple[str, int], int]:
    """(key, window start) → the sum of the values of the (key, timestamp ms, value) records in that window, with
    quixstreams' alignment: windows start at multiples of the step (of the duration for tumbling windows), and a
    record at `ts` falls in every window with start <= ts < start + duration."""
    step = duration_ms if step_ms is None else step_ms
    if duration_ms <= 0 or step <= 0 or duration_ms % step:
        raise ConfigError(f"the duration must be a positive multiple of the step, got {duration_ms} and {step}")
    sums: dict[tuple[str, int], int] = {}
    for key, timestamp, value in records:
        start = timestamp - timestamp % step
        while start > timestamp - duration_ms and start >= 0:
            sums[key, start] = sums.get((key, start), 0) + value
            start -= step
    return sums


class ProcessorProcess:
    """A quixstreams program (`script`) in a child process, given `order` (a JSON object) as `sys.argv[1]`, its
    output and log in `log`. The order travels on the child's stdin, not its command line: it may hold the
    cluster's credentials. The child exits when that stdin closes, so it never outlives the kernel that
    started it."""

    def __init__(self, script: str | Path, order: Mapping[str, Any], log: str | Path) -> None:
        self.script, self.log = Path(script), Path(log)
        if not self.script.is_file():
            raise ConfigError(f"no program at {self.script}: write it first (%%writefile)")
        line = json.dumps(dict(order)) + "\n"  # TypeError before anything starts
        self._start = self.log.stat().st_size if self.log.exists() else 0  # this start's output begins here
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self.script)],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl+C in the notebook is for the notebook
            )
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(line.encode())
            self.process.stdin.flush()
        except BrokenPipeError:  # it died at once: its output says why
            self.close()
            output = self.output()[-3000:]
            raise LabkitError(f"the program ended before it read its order; its output:\n{output}") from None

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """What this start of the program has written to its log so far."""
        with self.log.open("rb") as log:
            log.seek(self._start)
            return log.read().decode(errors="replace")

    def kill(self) -> float:
        """SIGKILL, as a crash (no commit, no close, no goodbye to the group): returns when (time.monotonic())."""
        self.process.kill()  # SIGKILL, unless it was reaped already (its pid may be another process's by then)
        at = time.monotonic()
        self.process.wait(timeout=30)
        return at

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as Kubernetes stops a pod: quixstreams commits and closes; SIGKILL after `timeout` s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        return self.process.returncode

    def close(self) -> None:
        """Kill it if it still runs, and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()

    def __enter__(self) -> ProcessorProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _run_script() -> None:
    """The child: read the order, exit when the parent's end of stdin closes, run the script as __main__."""
    script = sys.argv[1]
    order = sys.stdin.readline()
    if not order:
        os._exit(1)

    def exit_with_parent() -> None:
        sys.stdin.read()  # returns at EOF: the kernel that started this process is gone
        os._exit(0)

    threading.Thread(target=exit_with_parent, name="labkit-parent-watch", daemon=True).start()
    sys.argv = [script, order.strip()]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    _run_script()
