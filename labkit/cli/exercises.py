"""`labkit exercises [list|reset]`: every exercise of the lab and whether you solved it; forget that."""

from __future__ import annotations

import argparse

from labkit import exercises
from labkit.cli.common import table
from labkit.settings import Settings


def exercises_list(args: argparse.Namespace, settings: Settings) -> int:
    frame = exercises.progress(settings)
    print(table(["NOTEBOOK", "EXERCISE", "STATUS", "TITLE"], frame[["notebook", "exercise", "status", "title"]].values))
    solved = int((frame.status == "solved").sum())
    print(f"\n{settings.learner}: {solved} of {len(frame)} solved (LABKIT_LEARNER names another learner)")
    return 0


def exercises_reset(args: argparse.Namespace, settings: Settings) -> int:
    gone = exercises.reset(args.exercise or None, settings)
    print(f"forgot {len(gone)} exercise(s) of {settings.learner}: {', '.join(gone) or 'none was remembered'}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("exercises", help="the lab's exercises and your progress (labkit exercises reset)")
    parser.set_defaults(handler=exercises_list)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="every exercise, solved or not (the default)").set_defaults(handler=exercises_list)
    reset = actions.add_parser("reset", help="forget your progress: every exercise, or those named")
    reset.add_argument("exercise", nargs="*", help=f"exercise keys, e.g. {exercises.ALL[0].key}")
    reset.set_defaults(handler=exercises_reset)
