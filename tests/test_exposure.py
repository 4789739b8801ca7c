"""Exposure: every embedded server listens on loopback only, and the repository holds no credentials.
(Compose's published ports are checked in test_packaging.py.)
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

import pytest

from labkit.cluster.local import LocalCluster
from labkit.cluster.state import ClusterState

ROOT = Path(__file__).parent.parent
LOOPBACK = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


def listening_addresses(pids: set[int]) -> dict[int, list[str]]:
    """pid → the local addresses of its listening TCP sockets, read from /proc (no tool needed)."""
    inode_to_address: dict[str, str] = {}
    for table, ipv6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inode_to_address[fields[9]] = _address(fields[1], ipv6)
    found: dict[int, list[str]] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match and match.group(1) in inode_to_address:
                found.setdefault(pid, []).append(inode_to_address[match.group(1)])
    return found


def _address(hex_address: str, ipv6: bool) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if not ipv6:
        return ".".join(str(b) for b in reversed(raw)) + f":{int(port, 16)}"
    data = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # /proc prints each 32-bit word in host order
    address = ipaddress.IPv6Address(data)
    shown = f"::ffff:{address.ipv4_mapped}" if address.ipv4_mapped else str(address)
    return f"{shown}:{int(port, 16)}"


@pytest.mark.integration
def test_every_embedded_server_listens_on_loopback_only(cluster: ClusterState, cluster_home: Path) -> None:
    cluster = LocalCluster(cluster_home).load() or cluster  # now: a test before this one may have restarted a broker
    pids = {b.pid for b in cluster.brokers if b.pid} | ({cluster.redis_pid} if cluster.redis_pid else set())
    assert len(pids) == len(cluster.brokers) + 1
    found = listening_addresses(pids)
    assert set(found) == pids, "every broker and Redis listens"
    for pid, addresses in found.items():
        hosts = {a.rsplit(":", 1)[0] for a in addresses}
        assert hosts <= LOOPBACK, f"pid {pid} listens on {addresses}"
    ports = {int(a.rsplit(":", 1)[1]) for addresses in found.values() for a in addresses}
    assert {b.port for b in cluster.brokers} | {b.controller_port for b in cluster.brokers} | {
        cluster.redis_port
    } <= ports


@pytest.mark.unit
def test_the_repository_holds_no_credentials() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(
        r"(BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16}|(password|passwd|secret|api_?key)\s*[:=]\s*['\"][^'\"]+['\"])",
        re.IGNORECASE,
    )
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".jar"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if '"image/png": "' in line:  # a plot's base64 bytes: "AKIA" + 16 capitals occur by chance
                continue
            if pattern.search(line):
                hits.append(f"{name}:{number}: {line.strip()[:80]}")
    assert hits == []
