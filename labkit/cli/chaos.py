"""`labkit chaos kill|restart|pause|resume|isolate|cut|slow|heal|check|status`: faults for labkit's own cluster.

Each command does its fault and prints what it did, when and to whom. With `--for SECONDS` it holds the fault
that long in the foreground, then undoes it (Ctrl-C undoes it early); without, the fault stays until
`labkit chaos resume|restart|heal`. `check` books through a schedule of every fault and says whether any booking
told accepted was lost (labkit.experiments.fault_check).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from labkit.cli.common import Handler, positive_count_arg
from labkit.cluster.network import CLIENTS
from labkit.experiments.chaos import ISOLATIONS, Chaos, Fault
from labkit.experiments.fault_check import ACKS, full_schedule, run_check
from labkit.lab import Lab
from labkit.settings import Settings


def node_arg(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 9:
        raise argparse.ArgumentTypeError(f"a broker is its node id, an integer from 1 to 9, got {value!r}")
    return int(value)


def link_end_arg(value: str) -> int | str:
    if value == CLIENTS:
        return CLIENTS
    try:
        return node_arg(value)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"a link's end is a broker's node id or {CLIENTS!r}, got {value!r}") from exc


def positive_up_to(option: str, what: str, upper: float) -> Callable[[str], float]:
    """An argument type for a number above 0 and up to `upper`, whose error names the option and the range."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0 < number <= upper:
            raise argparse.ArgumentTypeError(f"{option} takes {what} above 0 and up to {upper:g}, got {value!r}")
        return number

    return parse


seconds_arg = positive_up_to("--for", "seconds", 3600)
rate_arg = positive_up_to("--rate", "bookings per second", 1000)


def _hold(chaos: Chaos, fault: Fault, started: float) -> int:
    """Print the fault; with a duration, wait for its undoing (Ctrl-C: undo now) and print that too."""
    print(fault)
    try:
        chaos.wait()
    except KeyboardInterrupt:
        chaos.close()
    for later in chaos.history():
        if later.at > fault.at and later.at >= started:
            print(later)
    return 0


def _run(action: str, args: argparse.Namespace, settings: Settings) -> int:
    started = time.time()
    chaos = Chaos(settings)
    duration = getattr(args, "duration", None)
    target = str(getattr(args, "target", ""))
    if action == "kill":
        fault = chaos.kill(args.node, duration)
    elif action == "restart":
        fault = chaos.restart(args.node)
    elif action == "pause":
        fault = chaos.pause(int(target), duration) if target.isdigit() else chaos.pause_consumer(target, duration)
    elif action == "resume":
        fault = chaos.resume(int(target)) if target.isdigit() else chaos.resume_consumer(target)
    elif action == "isolate":
        fault = chaos.isolate(args.node, args.isolate_from, duration)
    elif action == "cut":
        fault = chaos.cut(args.a, args.b, duration)
    else:  # slow
        fault = chaos.slow(args.node, args.delay_ms, duration)
    return _hold(chaos, fault, started)


def chaos_heal(args: argparse.Namespace, settings: Settings) -> int:
    healed = Chaos(settings).heal()
    for fault in healed:
        print(fault)
    if not healed:
        print("nothing to heal: no broker down or paused, no consumer paused, no link cut")
    return 0


def chaos_status(args: argparse.Namespace, settings: Settings) -> int:
    chaos = Chaos(settings)
    in_force = chaos.in_force()
    print("in force now:" if in_force else "in force now: nothing")
    for line in in_force:
        print(f"  {line}")
    history = chaos.history(args.last)
    if history:
        print(f"the last {len(history)} fault(s) and undoings:")
        for fault in history:
            print(f"  {fault}")
    return 0


def chaos_check(args: argparse.Namespace, settings: Settings) -> int:
    """Book through every fault of the full schedule on a new event; print the verdict; 1 if anything was lost."""
    schedule = full_schedule()
    print(f"acks={args.acks}, {args.rate:g} bookings/s; the schedule:")
    for step in schedule:
        print(f"  {step}")
    with Lab(settings) as lab:
        Chaos(settings).cluster.namespaced_state()  # refuses before an event is set up: not labkit's, or 127.0.0.1
        event_id = lab.new_event()
        lab.start_consumers(ticketing=2, seat_reservation=2, event_id=event_id)
        lab.wait_for_consumers(120)
        verdict = run_check(lab, event_id, schedule, acks=args.acks, rate=args.rate)
        lab.stop_consumers()
    print("what was done:")
    for fault in verdict.faults:
        print(f"  {fault}")
    print(verdict)
    return 0 if verdict.ok else 1


def _handler(action: str) -> Handler:
    return lambda args, settings: _run(action, args, settings)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("chaos", help="break labkit's own cluster on purpose, and heal it")
    sub = parser.add_subparsers(dest="chaos_command", required=True, metavar="FAULT")

    def fault(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=_handler(name))
        return p

    def held(p: argparse.ArgumentParser) -> None:
        p.add_argument("--for", dest="duration", type=seconds_arg, help="undo it after this many seconds")

    p = fault("kill", "SIGKILL a broker (a crash); --for restarts it after that long")
    p.add_argument("node", type=node_arg)
    held(p)
    p = fault("restart", "start a broker (default: every broker that is down) from its data")
    p.add_argument("node", type=node_arg, nargs="?")
    p = fault("pause", "SIGSTOP a broker (node id) or a consumer process (e.g. seat-reservation-1)")
    p.add_argument("target")
    held(p)
    p = fault("resume", "SIGCONT a broker or consumer process paused before")
    p.add_argument("target")
    p = fault("isolate", "cut a broker off from its peers (clients still reach it) or from everyone")
    p.add_argument("node", type=node_arg)
    p.add_argument("--from", dest="isolate_from", choices=ISOLATIONS, default="peers")
    held(p)
    p = fault("cut", f"cut the link between two brokers, or a broker and {CLIENTS!r}")
    p.add_argument("a", type=link_end_arg)
    p.add_argument("b", type=link_end_arg)
    held(p)
    p = fault("slow", "delay everything a broker sends (needs the kernel's netem)")
    p.add_argument("node", type=node_arg)
    p.add_argument("--delay-ms", type=int, required=True)
    held(p)
    p = sub.add_parser("heal", help="undo every fault: links, pauses, killed brokers")
    p.set_defaults(handler=chaos_heal)
    p = sub.add_parser("check", help="book through every fault on a new event: is anything told accepted lost?")
    p.add_argument("--acks", choices=ACKS, default="all", help="the booking producer's acks (default all)")
    p.add_argument("--rate", type=rate_arg, default=50.0, help="bookings per second (default 50)")
    p.set_defaults(handler=chaos_check)
    p = sub.add_parser("status", help="the faults in force now, and the last ones made")
    p.add_argument("--last", type=positive_count_arg, default=10, help="how many recorded faults to show (default 10)")
    p.set_defaults(handler=chaos_status)
