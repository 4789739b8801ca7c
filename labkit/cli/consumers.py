"""`labkit consumers run|start|status|stop|tail`: consumer processes, as the spec's `make c-*` targets run them."""

from __future__ import annotations

import argparse
import os
import time

from labkit.cli.common import consumer_count_arg, table
from labkit.cli.groups import print_event_groups
from labkit.runtime import Runtime
from labkit.services.consumer_processes import ConsumerProcesses, run
from labkit.services.workers import SERVICES
from labkit.settings import Settings


def consumers_run(args: argparse.Namespace, settings: Settings) -> int:
    run(args.service, settings)
    return 0


def consumers_start(args: argparse.Namespace, settings: Settings) -> int:
    started = ConsumerProcesses(settings).start(args.ticketing, args.seat_reservation)
    alive = sum(p.alive for p in started)
    print(f"{alive} consumer process(es) running for event {settings.event_id}; logs in {settings.home / 'logs'}")
    return 0


def consumers_status(args: argparse.Namespace, settings: Settings) -> int:
    processes = ConsumerProcesses(settings).list()
    rows = [(p.service, p.index, p.pid or "-", "yes" if p.alive else "NO", p.log_file) for p in processes]
    print(table(["SERVICE", "#", "PID", "ALIVE", "LOG"], rows) if rows else "no consumer processes")
    with Runtime.connect(settings) as runtime:
        print_event_groups(runtime.admin, settings.event_id, lagging=True)
    return 0 if all(p.alive for p in processes) else 1


def stop_processes(processes: ConsumerProcesses, timeout: float = 20.0) -> None:
    """SIGTERM the processes (each commits and leaves its group), SIGKILL what is left after `timeout` s."""
    started = time.monotonic()
    stopped, killed = processes.stop(timeout)
    print(
        f"stopped {stopped} consumer process(es) in {time.monotonic() - started:.1f} s"
        + (f"; had to SIGKILL {killed}" if killed else "")
    )


def consumers_stop(args: argparse.Namespace, settings: Settings) -> int:
    stop_processes(ConsumerProcesses(settings), args.timeout)
    return 0


def consumers_tail(args: argparse.Namespace, settings: Settings) -> int:
    logs = [str(p.log_file) for p in ConsumerProcesses(settings).list()]
    if not logs:
        print("no consumer processes")
        return 1
    os.execvp("tail", ["tail", "-n", "20", *(["-F"] if args.follow else []), *logs])


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consumer_cmds = commands.add_parser("consumers", help="consumer processes (the spec's make c-*)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    run_parser = consumer_cmds.add_parser("run", help="run one consumer in the foreground (SIGTERM stops it)")
    run_parser.add_argument("service", choices=SERVICES)
    run_parser.set_defaults(handler=consumers_run)
    start = consumer_cmds.add_parser("start", help="start consumer processes in the background")
    start.add_argument("--ticketing", type=consumer_count_arg, default=4, help="ticketing processes (default 4)")
    start.add_argument(
        "--seat-reservation", type=consumer_count_arg, default=4, help="seat-reservation processes (default 4)"
    )
    start.set_defaults(handler=consumers_start)
    consumer_cmds.add_parser("status", help="processes, group members, lag per partition").set_defaults(
        handler=consumers_status
    )
    stop_parser = consumer_cmds.add_parser("stop", help="SIGTERM: commit, leave the group, exit")
    stop_parser.add_argument("--timeout", type=float, default=20.0, help="seconds before SIGKILL (default 20)")
    stop_parser.set_defaults(handler=consumers_stop)
    tail = consumer_cmds.add_parser("tail", help="the consumers' logs")
    tail.add_argument("--no-follow", dest="follow", action="store_false")
    tail.set_defaults(handler=consumers_tail)
