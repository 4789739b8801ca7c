"""What an exercise is: a statement, a check that teaches, hints and a reference solution (learntools' model).

A check returns a `Verdict`; `Exercise.check` prints it and remembers a solved exercise. A judge says *why* an
answer is wrong (which partition, which offset, which seat), and raises `Unsolved` when the answer still holds
the placeholder `____`, so a notebook shipped unsolved runs green: its checks print "not yet" and the first hint.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labkit.errors import CallError, ConfigError
from labkit.exercises.progress import Progress


class _Placeholder:
    """The blank a learner replaces with an answer; no answer can equal it."""

    def __repr__(self) -> str:
        return "____"


____ = _Placeholder()


class Unsolved(Exception):
    """The answer still contains the placeholder: not wrong, not done yet."""


@dataclass(frozen=True)
class Verdict:
    """`solved` True when the answer is right; `message` says why (or why not); `unsolved` for a placeholder."""

    solved: bool
    message: str
    unsolved: bool = False

    def __str__(self) -> str:
        head = "Correct." if self.solved else "Not yet." if self.unsolved else "Not quite."
        return f"{head} {self.message}"


def correct(message: str) -> Verdict:
    return Verdict(True, message)


def wrong(*problems: str) -> Verdict:
    """A wrong answer, with its problems one per line (at most five: the first ones teach the most)."""
    shown = [p for p in problems if p][:5]
    more = len([p for p in problems if p]) - len(shown)
    return Verdict(False, "\n".join(shown) + (f"\n(and {more} more)" if more > 0 else ""))


def contains_placeholder(value: object) -> bool:
    """True when `value` is the placeholder or holds one (in a dict, list, tuple or set), or is a function whose
    code still names `____`."""
    if isinstance(value, _Placeholder):
        return True
    if "____" in getattr(getattr(value, "__code__", None), "co_names", ()):
        return True
    if isinstance(value, Mapping):
        return any(contains_placeholder(k) or contains_placeholder(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(contains_placeholder(v) for v in value)
    return False


@dataclass
class Exercise:
    """One exercise of a notebook. `judge(answer, **context)` returns a Verdict or raises Unsolved; `reference`
    is the solution, a real function that the tests run and `solution()` shows; `needs` names the keyword
    arguments the check needs (the lab, the event, a snapshot taken before)."""

    key: str
    notebook: str
    title: str
    statement: str
    hints: tuple[str, ...]
    judge: Callable[..., Verdict]
    reference: Callable[..., Any]
    needs: tuple[str, ...] = ()
    progress: Callable[[], Progress] = field(default=Progress.for_learner, repr=False)
    _hints_shown: int = field(default=0, repr=False)

    def evaluate(self, answer: object, **context: Any) -> Verdict:
        """The verdict on `answer`, without printing or remembering it."""
        missing = [name for name in self.needs if name not in context]
        if missing:
            raise CallError(f"{self.key}.check needs {', '.join(f'{n}=…' for n in missing)} (the check reads them)")
        unknown = sorted(set(context) - set(self.needs))
        if unknown:
            raise CallError(f"{self.key}.check takes {', '.join(self.needs) or 'no keyword arguments'}, not {unknown}")
        if contains_placeholder(answer):
            return self._not_yet()
        try:
            return self.judge(answer, **context)
        except Unsolved:
            return self._not_yet()

    def check(self, answer: object, **context: Any) -> None:
        """Print whether `answer` is right and why; a right answer is remembered in your progress. (Nothing is
        returned, so a notebook cell shows only the message; `evaluate` returns the verdict.)"""
        verdict = self.evaluate(answer, **context)
        print(verdict)
        if verdict.solved:
            self.progress().mark_solved(self.key)

    def _not_yet(self) -> Verdict:
        return Verdict(False, f"Replace ____ with your answer.\nHint: {self.hints[0]}", unsolved=True)

    def hint(self, n: int | None = None) -> None:
        """Print hint `n` (1-based), or the next one you have not seen."""
        if n is None:
            n = min(self._hints_shown + 1, len(self.hints))
        if not isinstance(n, int) or not 1 <= n <= len(self.hints):
            raise ConfigError(f"{self.key} has hints 1 to {len(self.hints)}, got {n!r}")
        self._hints_shown = max(self._hints_shown, n)
        print(f"Hint {n} of {len(self.hints)}: {self.hints[n - 1]}")

    def solution(self) -> None:
        """Print the reference solution's code (and remember that you looked)."""
        self.progress().mark_solution_seen(self.key)
        print(f"Solution of {self.key}:\n")
        print(textwrap.dedent(inspect.getsource(self.reference)))

    def show(self) -> None:
        """Print the statement."""
        print(f"Exercise {self.key}: {self.title}\n\n{self.statement}")

    def __repr__(self) -> str:
        return f"<exercise {self.key}: {self.title}>"
