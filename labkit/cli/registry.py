"""`labkit registry up|down|status|fetch`: the schema registry (Apicurio Registry, in memory) of notebook 13."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request

from labkit.cli.common import port_arg
from labkit.cluster.registry import DEFAULT_REGISTRY_PORT, SchemaRegistryServer, registry_version
from labkit.settings import Settings


def registry_up(args: argparse.Namespace, settings: Settings) -> int:
    started = time.monotonic()
    state, did_start = SchemaRegistryServer(settings.home, settings.java_home).up(args.port)
    if did_start:
        print(f"started Apicurio Registry {state.version} (in memory) in {time.monotonic() - started:.1f} s")
    else:
        print(f"already running (pid {state.pid}): nothing started")
    print(f"SCHEMA_REGISTRY_URL={state.url}")
    return 0


def registry_down(args: argparse.Namespace, settings: Settings) -> int:
    stopped = SchemaRegistryServer(settings.home).down()
    print("stopped (its schemas are gone with it)" if stopped else "no schema registry was running")
    return 0


def registry_status(args: argparse.Namespace, settings: Settings) -> int:
    server = SchemaRegistryServer(settings.home)
    state = server.status()
    if state is None:
        print("no schema registry runs from this labkit home: `labkit registry up` starts one")
        return 1
    try:
        with urllib.request.urlopen(f"{state.url}/subjects", timeout=5) as response:
            subjects = json.load(response)
    except (OSError, ValueError) as error:
        print(f"Apicurio Registry {state.version} (pid {state.pid}) does not answer at {state.url}: {error}")
        return 1
    print(f"Apicurio Registry {state.version} at {state.url} (pid {state.pid}; log {server.log_file})")
    print(f"{len(subjects)} subject(s){': ' + ', '.join(sorted(subjects)) if subjects else ''}")
    return 0


def registry_fetch(args: argparse.Namespace, settings: Settings) -> int:
    app = SchemaRegistryServer(settings.home).fetch()
    print(f"Apicurio Registry {registry_version()} is in {app}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    registry = commands.add_parser("registry", help="the schema registry (Apicurio, in memory)").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    up = registry.add_parser("up", help="start it unless it runs, and print its URL")
    up.add_argument(
        "--port",
        type=port_arg,
        default=DEFAULT_REGISTRY_PORT,
        help=f"its port (default {DEFAULT_REGISTRY_PORT}); its health endpoints take the next one",
    )
    up.set_defaults(handler=registry_up)
    registry.add_parser("down", help="stop it (`labkit cluster down` does too)").set_defaults(handler=registry_down)
    registry.add_parser("status", help="whether it runs, and its subjects").set_defaults(handler=registry_status)
    registry.add_parser("fetch", help="resolve it with Maven and unpack it").set_defaults(handler=registry_fetch)
