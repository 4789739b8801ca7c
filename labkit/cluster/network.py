"""Each broker on an address of its own, so that the links between brokers can be cut (`labkit chaos`).

On 127.0.0.1 every broker shares one interface: nothing can separate broker 1 from broker 2 while clients still
reach both. With `cluster up --network namespaces` each broker runs in a Linux network namespace of its own,
`lk<tag>-b<n>`, whose `eth0` (10.213.<x>.<n>/24) is one end of a veth pair; the other end sits on a bridge,
`lk<tag>br`, in the machine's own namespace, where the clients reach every broker through 10.213.<x>.254.

A cut points the peer's address at a MAC address nobody has (a permanent neighbour entry): packets leave and
vanish, as on a partitioned network. New connections time out, established ones stall and retransmit, and once
the entry is deleted the retransmissions get through and the connections carry on. Only `ip` (iproute2) and
root are needed: no iptables, nftables or traffic-control modules, which this machine's kernel lacks.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import ClusterError

LOOPBACK = "loopback"
NAMESPACES = "namespaces"
NETWORKS = (LOOPBACK, NAMESPACES)
CLIENTS = "clients"  # the far end of every broker's link to the machine's own namespace
NOWHERE = "02:00:00:00:00:00"  # a locally administered MAC that no interface has: a cut sends packets there
INTERFACE = "eth0"  # each broker's interface, inside its namespace
PREFIX = "10.213"


@dataclass(frozen=True)
class BrokerNetwork:
    """The names and addresses of one home's namespaced cluster: one per home, so that two clusters (the
    learner's and the tests') never share a bridge, a namespace or a subnet."""

    tag: str  # six hex digits of the home's path
    subnet: int  # the third octet of 10.213.x.0/24

    @classmethod
    def for_home(cls, home: Path) -> BrokerNetwork:
        digest = hashlib.sha1(str(Path(home).absolute()).encode()).digest()
        return cls(tag=digest[:3].hex(), subnet=1 + digest[3] % 250)

    @property
    def bridge(self) -> str:
        return f"lk{self.tag}br"

    @property
    def clients_address(self) -> str:
        return f"{PREFIX}.{self.subnet}.254"

    def namespace(self, node_id: int) -> str:
        return f"lk{self.tag}-b{node_id}"

    def host_link(self, node_id: int) -> str:
        """The bridge's end of broker `node_id`'s veth pair (at most 15 characters: Linux's limit)."""
        return f"lk{self.tag}b{node_id}"

    def address(self, node_id: int) -> str:
        return f"{PREFIX}.{self.subnet}.{node_id}"

    def node_of(self, address: str) -> int | str | None:
        """The broker (node id) or CLIENTS that `address` belongs to, None if it is not of this network."""
        prefix = f"{PREFIX}.{self.subnet}."
        if not address.startswith(prefix):
            return None
        last = int(address.rsplit(".", 1)[1])
        return CLIENTS if last == 254 else last

    def run_in(self, node_id: int) -> list[str]:
        """The prefix that runs a command in broker `node_id`'s namespace."""
        return ["ip", "netns", "exec", self.namespace(node_id)]


def why_unavailable() -> str | None:
    """What this machine lacks for namespaced brokers, or None if it has it all."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` command is not installed (Debian: apt-get install iproute2)"
    if os.geteuid() != 0:
        return (
            "network namespaces and veth links need root (CAP_NET_ADMIN and CAP_SYS_ADMIN), and this process runs "
            f"as uid {os.geteuid()}"
        )
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise ClusterError(f"`ip {' '.join(args)}` failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


def _namespaces() -> set[str]:
    return {line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()}


def _link_exists(name: str) -> bool:
    return _ip("link", "show", name, check=False).returncode == 0


def _refuse_a_subnet_in_use(net: BrokerNetwork) -> None:
    subnet = ipaddress.ip_network(f"{PREFIX}.{net.subnet}.0/24")
    for route in json.loads(_ip("-4", "-j", "route", "show").stdout or "[]"):
        destination = route.get("dst", "default")
        if destination != "default" and ipaddress.ip_network(destination, strict=False).overlaps(subnet):
            raise ClusterError(
                f"the subnet {subnet} is in use on this machine (route {destination} on {route.get('dev')}): "
                "cannot put the brokers on it"
            )


def create(net: BrokerNetwork, node_ids: Sequence[int]) -> None:
    """Make the bridge, the namespaces and their links (what exists already is left as it is)."""
    if missing := why_unavailable():
        raise ClusterError(f"cannot give the brokers namespaces of their own: {missing}")
    try:
        _create(net, node_ids)
    except (ClusterError, OSError, subprocess.SubprocessError):
        destroy(net, node_ids)  # nothing half-made is left behind
        raise


def _create(net: BrokerNetwork, node_ids: Sequence[int]) -> None:
    if not _link_exists(net.bridge):
        _refuse_a_subnet_in_use(net)
        _ip("link", "add", net.bridge, "type", "bridge")
    _ip("addr", "replace", f"{net.clients_address}/24", "dev", net.bridge)
    _ip("link", "set", net.bridge, "up")
    existing = _namespaces()
    for node in node_ids:
        ns = net.namespace(node)
        if ns not in existing:
            _ip("netns", "add", ns)
        if not _link_exists(net.host_link(node)):
            _ip("link", "add", net.host_link(node), "type", "veth", "peer", "name", INTERFACE, "netns", ns)
        _ip("link", "set", net.host_link(node), "master", net.bridge, "up")
        _ip("-n", ns, "addr", "replace", f"{net.address(node)}/24", "dev", INTERFACE)
        _ip("-n", ns, "link", "set", INTERFACE, "up")
        _ip("-n", ns, "link", "set", "lo", "up")


def destroy(net: BrokerNetwork, node_ids: Sequence[int]) -> None:
    """Delete the namespaces (their veth pairs go with them) and the bridge; what is gone already is skipped."""
    existing = _namespaces() if shutil.which("ip") else set()
    for node in node_ids:
        if net.namespace(node) in existing:
            _ip("netns", "del", net.namespace(node))
    if shutil.which("ip") and _link_exists(net.bridge):
        _ip("link", "del", net.bridge)


def leftovers(net: BrokerNetwork) -> list[str]:
    """This network's namespaces and bridge that exist now (none once `destroy` has run)."""
    if shutil.which("ip") is None:
        return []
    found = sorted(ns for ns in _namespaces() if ns.startswith(f"lk{net.tag}-"))
    return found + ([net.bridge] if _link_exists(net.bridge) else [])


# -- cuts: one direction of one link each; `cut` and `heal` handle both directions --------------------------------
Side = int | str  # a broker's node id, or CLIENTS


def _drop(net: BrokerNetwork, side: Side, towards: Side, heal: bool) -> None:
    """Send what `side` sends `towards` nowhere (or, with `heal`, to its real MAC again)."""
    address = net.clients_address if towards == CLIENTS else net.address(int(towards))
    where = ["dev", net.bridge] if side == CLIENTS else ["dev", INTERFACE]
    prefix = [] if side == CLIENTS else ["-n", net.namespace(int(side))]
    if heal:
        _ip(*prefix, "neigh", "del", address, *where, check=False)  # gone already: healed already
    else:
        _ip(*prefix, "neigh", "replace", address, "lladdr", NOWHERE, "nud", "permanent", *where)


def cut(net: BrokerNetwork, a: Side, b: Side) -> None:
    """Nothing passes between `a` and `b` in either direction until `heal(a, b)`."""
    if a == b:
        raise ClusterError(f"a link joins two different ends, got {a!r} twice")
    _drop(net, a, b, heal=False)
    _drop(net, b, a, heal=False)


def heal(net: BrokerNetwork, a: Side, b: Side) -> None:
    _drop(net, a, b, heal=True)
    _drop(net, b, a, heal=True)


def cuts(net: BrokerNetwork, node_ids: Sequence[int]) -> set[frozenset[Side]]:
    """The links cut now, read from the kernel's neighbour tables (each as the set of its two ends)."""
    found: set[frozenset[Side]] = set()
    sides: list[tuple[Side, list[str]]] = [(CLIENTS, ["neigh", "show", "dev", net.bridge])]
    present = _namespaces()
    sides += [(n, ["-n", net.namespace(n), "neigh", "show"]) for n in node_ids if net.namespace(n) in present]
    for side, command in sides:
        result = _ip("-j", *command, check=False)
        for entry in json.loads(result.stdout or "[]") if result.returncode == 0 else []:
            towards = net.node_of(entry.get("dst", ""))
            if entry.get("lladdr") == NOWHERE and towards is not None:
                found.add(frozenset((side, towards)))
    return found


def sorted_links(links: set[frozenset[Side]]) -> list[frozenset[Side]]:
    """Links in a stable order: by their ends' names."""
    return sorted(links, key=lambda link: sorted(map(str, link)))


def describe_link(link: frozenset[Side]) -> str:
    """'broker 1 ↔ broker 2', 'broker 3 ↔ clients'."""
    ends = sorted(link, key=lambda s: (isinstance(s, str), str(s)))
    return " ↔ ".join(f"broker {s}" if isinstance(s, int) else str(s) for s in ends)


def add_latency(net: BrokerNetwork, node_id: int, delay_ms: int) -> None:
    """Delay everything broker `node_id` sends by `delay_ms` (netem); ClusterError naming what the kernel lacks
    where it has no netem (this machine: "Specified qdisc kind is unknown")."""
    if shutil.which("tc") is None:
        raise ClusterError("cannot add latency: iproute2's `tc` is not installed (Debian: apt-get install iproute2)")
    command = ["tc", "qdisc", "replace", "dev", INTERFACE, "root", "netem", "delay", f"{delay_ms}ms"]
    result = subprocess.run([*net.run_in(node_id), *command], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ClusterError(
            "cannot add latency on this machine: the kernel has no netem queueing discipline "
            f"(`{' '.join(command)}` said: {result.stderr.strip() or result.returncode}); "
            "kill, pause, isolate and cut work without it"
        )


def has_latency(net: BrokerNetwork, node_id: int) -> bool:
    if shutil.which("tc") is None:
        return False
    shown = subprocess.run(
        [*net.run_in(node_id), "tc", "qdisc", "show", "dev", INTERFACE], capture_output=True, text=True, timeout=30
    )
    return "netem" in shown.stdout


def remove_latency(net: BrokerNetwork, node_id: int) -> None:
    if shutil.which("tc") is None:
        return
    subprocess.run(
        [*net.run_in(node_id), "tc", "qdisc", "del", "dev", INTERFACE, "root"], capture_output=True, timeout=30
    )
