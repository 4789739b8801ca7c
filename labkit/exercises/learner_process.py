"""A learner's client loop (a consumer, a replay, a forwarder) run in a process of its own, so that a check can
SIGKILL it mid-stream, as a crash would, and start it again, or stop a loop that never ends. A thread in the
kernel cannot be killed; a process can.

The function travels as source (`inspect.getsource`), so it must stand on its own: it gets the names of
`PRELUDE` (confluent-kafka's client classes, `json`, `time`) and imports anything else itself. It is called as
`function(*arguments, process)` (a consumer loop's arguments are `config, topic`); `process(message)` appends the
record's value to a file the check reads (one line per call), and when asked to, *holds* the Nth record: it
writes a marker and never returns, so the check kills the process while that record is being processed.

Run as `python -m labkit.exercises.learner_process SPEC.json` (what `LearnerProcess.start` does).
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labkit.errors import CallError
from labkit.polling import poll

START_TIMEOUT = 60.0  # s for a first run to reach the record it is held on (a fresh process, a group to join)
CRASH_AFTER = 1.0  # s the crash comes after process() got the held record: timers (auto-commit) and sends have run
RESTART_TIMEOUT = 45.0  # s for a restarted run once the dead member's session is over (scratch.restart_timeout)

PRELUDE = (
    "from __future__ import annotations\n"
    "from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition\n"
    "import json, time\n"
)


def function_source(function: Callable[..., Any]) -> str:
    """The source of `function`, dedented; CallError when Python cannot find it (a lambda typed at a prompt)."""
    if not callable(function) or not hasattr(function, "__code__"):
        raise CallError(f"answer with a function (def …), got {type(function).__name__}")
    try:
        return textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as error:
        raise CallError(f"cannot read the source of {function.__name__}: define it with def in a cell") from error


@dataclass(frozen=True)
class Spec:
    """What the child runs: `source` defines `name`, called with `arguments` (JSON values) and `process`;
    `processed` is the file of values, `held` the marker."""

    source: str
    name: str
    arguments: list[Any]
    processed: str
    held: str
    hold_at: int | None  # hold the record `process` is called with for the hold_at-th time (1-based)
    slow_at: int | None = None  # take `slow_s` seconds over the record of the slow_at-th call, then finish it
    slow_s: float = 0.0
    result: str | None = None  # call the function without `process`, and write what it returns here (JSON)


@dataclass
class LearnerProcess:
    """A running child; `kill()` is SIGKILL and a wait, and releases nothing else: that is the point."""

    popen: subprocess.Popen[bytes]
    spec: Spec
    stderr: Path

    @classmethod
    def start(
        cls,
        function: Callable[..., Any],
        arguments: list[Any],
        workdir: Path,
        run: str,
        hold_at: int | None = None,
        slow: tuple[int, float] | None = None,  # (the call, its seconds): one slow record, as a slow handler has
        returns: bool = False,  # the function takes no `process` and returns its answer (`result()`)
    ) -> LearnerProcess:
        spec = Spec(
            source=function_source(function),
            name=function.__name__,
            arguments=arguments,
            processed=str(workdir / "processed.txt"),  # both runs append to one file
            held=str(workdir / f"{run}.held"),
            hold_at=hold_at,
            slow_at=slow[0] if slow else None,
            slow_s=slow[1] if slow else 0.0,
            result=str(workdir / f"{run}.result.json") if returns else None,
        )
        spec_path, stderr = workdir / f"{run}.json", workdir / f"{run}.stderr"
        spec_path.write_text(json.dumps(asdict(spec)))
        with stderr.open("wb") as errors:
            popen = subprocess.Popen(
                [sys.executable, "-m", "labkit.exercises.learner_process", str(spec_path)],
                stdin=subprocess.PIPE,  # never written: the child exits when it closes, with this process
                stdout=errors,
                stderr=errors,
            )
        return cls(popen, spec, stderr)

    def held(self) -> bool:
        return Path(self.spec.held).exists()

    def held_value(self) -> str:
        """The value of the record `process` was holding (read once `held()`)."""
        return Path(self.spec.held).read_text()

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def errors(self, lines: int = 6) -> str:
        """The last lines the child wrote to stderr (a traceback, if it raised)."""
        return "\n".join(self.stderr.read_text(errors="replace").strip().splitlines()[-lines:])

    def result(self) -> Any:
        """What the function returned (a function started with `returns=True` that ended), JSON-decoded."""
        path = Path(self.spec.result or "")
        return json.loads(path.read_text()) if self.spec.result and path.exists() else None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()
        if self.popen.stdin is not None:
            self.popen.stdin.close()


@dataclass(frozen=True)
class Ran:
    """How a run ended: `exit_code` before the check stopped it (None: still running), and what it wrote."""

    exit_code: int | None
    errors: str  # the last lines of its standard error (a traceback, if it raised)
    stderr: str  # all of it (librdkafka's warnings too)
    result: Any = None

    @property
    def raised(self) -> bool:
        return self.exit_code not in (None, 0)

    def failure(self, who: str = "the restarted function") -> str:
        """What to tell the learner when the run raised; "" when it did not."""
        return f"{who} raised (exit code {self.exit_code}):\n{self.errors}" if self.raised else ""


def run_until(
    function: Callable[..., Any],
    arguments: list[Any],
    workdir: Path,
    run: str,
    finished: Callable[[], object],
    timeout: float,
    **options: Any,
) -> Ran:
    """Run `function` as `run` until `finished()`, until it ends by itself or for `timeout` s, then SIGKILL it if it
    still runs. `options` go to `LearnerProcess.start`."""
    child = LearnerProcess.start(function, arguments, workdir, run, **options)
    try:
        poll(lambda: child.exit_code() is not None or finished(), timeout, interval=0.2)
        ended = child.exit_code()
        return Ran(ended, child.errors(), child.stderr.read_text(errors="replace"), child.result())
    finally:
        child.kill()


def crash_while_held(
    function: Callable[..., Any],
    arguments: list[Any],
    workdir: Path,
    hold_at: int,
    timeout: float = START_TIMEOUT,
    crash_after: float = CRASH_AFTER,
) -> tuple[str, str]:
    """Run `function` as run "first" until `process` holds its `hold_at`-th record, let `crash_after` s pass, and
    SIGKILL it: (the held record's value, "") or ("", what went wrong, for the learner)."""
    first = LearnerProcess.start(function, arguments, workdir, "first", hold_at=hold_at)
    try:
        poll(lambda: first.held() or first.exit_code() is not None, timeout)
        done = len(processed_values(workdir))
        if first.exit_code() is not None:
            return "", f"your function ended (exit code {first.exit_code()}) after {done} records:\n{first.errors()}"
        if not first.held():
            return "", (
                f"in {timeout:.0f} s process() finished {done} records and was never called with record {hold_at}: "
                "poll in a loop and call process(message) for each record"
            )
        time.sleep(crash_after)  # the crash comes a moment into process(): the length of the experiment, not a wait
        return first.held_value(), ""
    finally:
        first.kill()


def processed_values(workdir: Path) -> list[str]:
    """Every value `process` finished, in order, over every run in `workdir`."""
    path = workdir / "processed.txt"
    return path.read_text().splitlines() if path.exists() else []


def _processor(spec: Spec) -> Callable[[Any], None]:
    calls = 0
    output = open(spec.processed, "a", buffering=1)  # noqa: SIM115 (open until the process dies)

    def process(message: Any) -> None:
        nonlocal calls
        calls += 1
        value = message.value() if hasattr(message, "value") else message
        text = value.decode() if isinstance(value, bytes) else str(value)
        if calls == spec.hold_at:
            Path(spec.held).write_text(text)
            threading.Event().wait()  # held until the check's SIGKILL
        if calls == spec.slow_at:
            time.sleep(spec.slow_s)  # the slow work itself: what the check is about
        output.write(text + "\n")
        output.flush()
        os.fsync(output.fileno())

    return process


def _exit_with_parent() -> None:
    """The check holds this process's stdin open; when the check's process dies (a kernel restarted mid-check), the
    pipe closes and the learner's loop must not go on consuming on its own."""
    sys.stdin.read()
    os._exit(3)


def _plain(value: object) -> object:
    """bytes as text, for a returned answer to travel as JSON."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def main(spec_path: str) -> None:
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    spec = Spec(**json.loads(Path(spec_path).read_text()))
    namespace: dict[str, Any] = {"__name__": "learner"}
    exec(compile(PRELUDE + spec.source, f"<{spec.name}>", "exec"), namespace)  # the learner's own code
    if spec.result is None:
        namespace[spec.name](*spec.arguments, _processor(spec))
        return
    answer = namespace[spec.name](*spec.arguments)
    if isinstance(answer, dict):
        answer = {_plain(k): (None if v is None else _plain(v)) for k, v in answer.items()}
    Path(spec.result).write_text(json.dumps(answer, default=_plain))


if __name__ == "__main__":
    main(sys.argv[1])
