"""Detached server processes: start with logs to a file, recognise by pid + command line, stop, and ports."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from labkit.errors import ClusterError
from labkit.polling import poll, wait_until

log = logging.getLogger(__name__)


def start_detached(
    cmd: Sequence[str], log_file: Path, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> int:
    """Start `cmd` in its own session (it outlives the CLI that started it); stdout+stderr go to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
    _children.append(proc)
    return proc.pid


# Popen objects of processes this interpreter started: reaped on stop so that no zombie keeps a pid alive.
_children: list[subprocess.Popen[bytes]] = []


def command_line(pid: int) -> str | None:
    """The process's command line, or None when no such process runs (zombies count as gone)."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            if "State:\tZ" in (proc / "status").read_text():
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
    result = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
    return result.stdout.strip() or None


def has_exited(pid: int, marker: str) -> bool:
    """True once the process `pid` (recognised by `marker` in its command line) has released everything.

    A process on its way out has an empty command line (its memory is gone), or a zombie main thread while its
    other threads still run (a JVM shutting down), and may still hold files and listening sockets: "not yet".
    A pid that now belongs to something else (a whole zombie, a thread of another process, a kernel thread,
    another program) means it is gone.
    """
    proc = Path(f"/proc/{pid}")
    try:
        status = (proc / "status").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return Path("/proc").is_dir() or not is_running(pid, marker)  # without /proc (macOS), ps decides
    fields = {key: value.strip() for key, _, value in (line.partition(":") for line in status.splitlines())}
    if (
        (fields.get("State", "").startswith(("Z", "X")) and fields.get("Threads", "1") in ("0", "1"))
        or fields.get("Tgid") != str(pid)
        or fields.get("Kthread") == "1"
        or fields.get("PPid") == "2"
    ):
        return True
    if not cmdline:
        return False
    return marker not in cmdline.replace(b"\0", b" ").decode(errors="replace")


def is_running(pid: int | None, marker: str) -> bool:
    """True when `pid` runs and its command line contains `marker` (so a recycled pid is not mistaken)."""
    if not pid:
        return False
    line = command_line(pid)
    return line is not None and marker in line


def stop(pids: Sequence[int], marker: Callable[[int], str], timeout: float = 30.0) -> list[int]:
    """SIGTERM every pid at once, wait up to `timeout` s, SIGKILL what is left. Returns the pids that were killed."""
    live = [pid for pid in pids if is_running(pid, marker(pid))]
    for pid in live:
        _signal(pid, signal.SIGTERM)
        _signal(pid, signal.SIGCONT)  # a paused process (labkit chaos pause) gets to handle it

    def all_exited() -> bool:
        nonlocal live
        _reap()
        live = [pid for pid in live if not has_exited(pid, marker(pid))]
        return not live

    return [] if poll(all_exited, timeout) else kill_now(live, marker)


def kill_now(pids: Sequence[int], marker: Callable[[int], str]) -> list[int]:
    """SIGKILL at once (a crash, not a shutdown) and wait until they are gone. Returns the pids killed."""
    live = [pid for pid in pids if is_running(pid, marker(pid))]
    for pid in live:
        _signal(pid, signal.SIGKILL)
    wait_until(lambda: all(has_exited(pid, marker(pid)) for pid in live), 10.0, "killed processes to exit", _reap)
    return live


def pause(pids: Sequence[int], marker: Callable[[int], str]) -> list[int]:
    """SIGSTOP: the processes stay alive and keep their sockets but run no instruction until `resume`, as in a
    long GC pause or a frozen VM. Returns the pids paused."""
    live = [pid for pid in pids if is_running(pid, marker(pid))]
    for pid in live:
        _signal(pid, signal.SIGSTOP)
    wait_until(lambda: all(state(pid) in ("T", "t") for pid in live), 5.0, "paused processes to stop")
    return live


def state(pid: int) -> str | None:
    """The process's state letter from /proc (R running, S sleeping, T stopped, Z zombie, …); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]  # after the command name, which may hold spaces and parentheses


def is_paused(pid: int | None) -> bool:
    """Whether the process is stopped (SIGSTOP) now."""
    return pid is not None and state(pid) in ("T", "t")


def resume(pids: Sequence[int]) -> None:
    """SIGCONT what `pause` stopped."""
    for pid in pids:
        _signal(pid, signal.SIGCONT)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def how_it_ended(pid: int) -> str:
    """How a process this interpreter started ended ("exit status 1", "killed by SIGTERM"), or "" when unknown:
    a broker that vanishes during start-up was either refused by Kafka or stopped by someone else."""
    for proc in _children:
        if proc.pid == pid and proc.poll() is not None:
            code = proc.returncode
            return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
    return ""


def _reap() -> None:
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_port_range(source: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> range:
    """The ports the kernel picks as the source of an outgoing connection (Linux's default when unreadable)."""
    try:
        low, high = (int(field) for field in source.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def ephemeral_ports(ports: Mapping[str, int]) -> dict[str, int]:
    """The `ports` a client may take as its own source port while their server is down.

    A client that connects to 127.0.0.1:P while nothing listens there can be given P itself as its source
    port: the socket connects to itself (TCP simultaneous open), answers with what it was sent, and holds
    P, so the server's restart fails with 'Address already in use'. Below the range this cannot happen.
    """
    risky = ephemeral_port_range()
    return {name: port for name, port in ports.items() if port in risky}


def require_free_ports(ports: dict[str, int], hint: str = "--kafka-port / --redis-port") -> None:
    """ClusterError naming every taken port and how to pick others (`hint`: the options that choose them)."""
    taken = {name: port for name, port in ports.items() if not port_is_free(port)}
    if taken:
        listing = ", ".join(f"{name} {port}" for name, port in taken.items())
        raise ClusterError(
            f"port(s) already taken on 127.0.0.1: {listing}. Stop what listens there "
            f"(`labkit cluster down` if it is an earlier labkit cluster) or choose other ports with {hint}"
        )


def claim_ports(ports: dict[str, int], hint: str = "--kafka-port / --redis-port") -> None:
    """`require_free_ports`, and a warning for ports in the ephemeral range."""
    require_free_ports(ports, hint)
    if risky := ephemeral_ports(ports):
        ephemeral = ephemeral_port_range()
        log.warning(
            "port(s) %s lie in the kernel's ephemeral range %d-%d: a client retrying while its server is down "
            "can connect to itself there and hold the port; ports below %d are safe",
            ", ".join(f"{name} {port}" for name, port in risky.items()),
            ephemeral.start,
            ephemeral.stop - 1,
            ephemeral.start,
        )
