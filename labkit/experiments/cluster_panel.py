"""The control room's cluster panel: each broker's state, the partitions it leads and follows in sync, the
under-replicated and offline partitions, the links cut, and how each node sees the controller quorum; beside it
a lag line per consumer group.

What a learner breaks with `labkit chaos` shows here within a second: a killed broker is down and leads nothing,
a paused one still counts as up until the controller fences it, an isolated one goes on believing it leads. As
in the partition panel, reading (`read_cluster_view`) is kept apart from drawing (pure functions of plain data).
"""

from __future__ import annotations

import html
import json
import time
from collections import deque
from dataclasses import dataclass, field

from confluent_kafka import KafkaException

from labkit.cluster import network as net
from labkit.cluster.local import LocalCluster
from labkit.errors import ClusterError
from labkit.kafka.admin import Admin
from labkit.kafka.groups import GroupDescription, describe_group
from labkit.kafka.stalls import Stall

STATE_COLOURS = {"up": "#e8f5e9", "paused": "#fff59d", "cut off": "#ffcc80", "down": "#e57373"}
METADATA_TIMEOUT = 2.0  # s: a panel refresh must not wait long on a broker that is paused or cut off


@dataclass(frozen=True)
class BrokerRow:
    node_id: int
    address: str
    state: str  # up, paused, cut off (some of its links cut), down
    registered: bool | None  # in the metadata the brokers answer (fenced brokers drop out); None: unknown
    leads: int  # partitions it leads, as the answering broker sees it
    in_sync: int  # partitions whose ISR holds it
    replicas: int  # partitions with a replica on it
    quorum_leader: int | None  # the controller quorum's leader, as this node last recorded it (-1: none known)
    quorum_epoch: int | None


@dataclass(frozen=True)
class ClusterView:
    brokers: list[BrokerRow]
    partitions: int | None  # None: no broker answered
    under_replicated: int | None
    offline: int | None
    cut_links: list[str] = field(default_factory=list)
    answered_by: str = ""  # which broker the metadata came from


def read_cluster_view(local: LocalCluster, admin: Admin) -> ClusterView:
    """Process states and cut links from this machine, partitions from the metadata a broker answers (within
    METADATA_TIMEOUT s), each node's view of the quorum from its `quorum-state` file."""
    status = local.status()
    paused = set(local.paused_brokers())
    cuts = local.cut_links()
    cut_nodes = {side for link in cuts for side in link if side != net.CLIENTS}
    try:
        metadata = admin.client.list_topics(timeout=METADATA_TIMEOUT)
    except KafkaException:
        metadata = None
    leads: dict[int, int] = {}
    in_sync: dict[int, int] = {}
    replicas: dict[int, int] = {}
    partitions = under = offline = None
    if metadata is not None:
        parts = [p for name, t in metadata.topics.items() if not name.startswith("__") for p in t.partitions.values()]
        partitions = len(parts)
        under = sum(1 for p in parts if len(p.isrs) < len(p.replicas))
        offline = sum(1 for p in parts if p.leader < 0)
        for p in parts:
            leads[p.leader] = leads.get(p.leader, 0) + 1
            for node in p.isrs:
                in_sync[node] = in_sync.get(node, 0) + 1
            for node in p.replicas:
                replicas[node] = replicas.get(node, 0) + 1
    rows = []
    for broker in status.brokers:
        state = (
            "down"
            if not broker.alive
            else "paused"
            if broker.node_id in paused
            else "cut off"
            if broker.node_id in cut_nodes
            else "up"
        )
        leader, epoch = quorum_view(local, broker.node_id)
        rows.append(
            BrokerRow(
                broker.node_id,
                broker.address,
                state,
                None if metadata is None else broker.node_id in metadata.brokers,
                leads.get(broker.node_id, 0),
                in_sync.get(broker.node_id, 0),
                replicas.get(broker.node_id, 0),
                leader,
                epoch,
            )
        )
    answered = "" if metadata is None else f"{metadata.orig_broker_name}"
    links = [net.describe_link(link) for link in net.sorted_links(cuts)]
    return ClusterView(rows, partitions, under, offline, links, answered)


def quorum_view(local: LocalCluster, node_id: int) -> tuple[int | None, int | None]:
    """(leader id, leader epoch) of the controller quorum as node `node_id` last wrote it down (KRaft keeps it
    in `__cluster_metadata-0/quorum-state`); (None, None) if it cannot be read."""
    path = local.kafka_dir / f"node-{node_id}" / "__cluster_metadata-0" / "quorum-state"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, None
    return int(state.get("leaderId", -1)), int(state.get("leaderEpoch", -1))


def cluster_panel_html(view: ClusterView) -> str:
    """One row per broker, coloured by its state, then the partition counts and the cut links."""
    rows = []
    for b in view.brokers:
        registered = "?" if b.registered is None else ("yes" if b.registered else "no (fenced)")
        quorum = "?" if b.quorum_leader is None else f"{b.quorum_leader} (epoch {b.quorum_epoch})"
        rows.append(
            f"<tr class='labkit-broker labkit-broker-{b.node_id}' data-state='{b.state}' "
            f"style='background:{STATE_COLOURS.get(b.state, '#eee')}'><td><b>{b.node_id}</b></td>"
            f"<td>{html.escape(b.address)}</td><td class='labkit-broker-state'>{b.state}</td><td>{registered}</td>"
            f"<td>{b.leads}</td><td>{b.in_sync} / {b.replicas}</td><td>{quorum}</td></tr>"
        )
    header = "".join(
        f"<th style='padding:0 6px'>{h}</th>"
        for h in ("broker", "address", "process", "registered", "leads", "in ISR / replicas", "quorum leader seen")
    )
    counts = (
        "no broker answered for metadata"
        if view.partitions is None
        else f"{view.partitions} partitions: <span class='labkit-under-replicated'>{view.under_replicated}</span> "
        f"under-replicated, <span class='labkit-offline'>{view.offline}</span> offline "
        f"(metadata from {html.escape(view.answered_by)})"
    )
    links = ", ".join(html.escape(link) for link in view.cut_links) or "none"
    return (
        f"<div class='labkit-cluster-panel'><b>the cluster</b><table style='border-collapse:collapse'>"
        f"<tr>{header}</tr>{''.join(rows)}</table><small>{counts}<br>links cut: "
        f"<span class='labkit-cut-links'>{links}</span></small></div>"
    )


class LagHistory:
    """Each group's total lag over the last `window` s, for the lag line."""

    def __init__(self, window: float = 120.0) -> None:
        self.window = window
        self.points: dict[str, deque[tuple[float, int]]] = {}

    def add(self, group: str, lag: int, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        points = self.points.setdefault(group, deque())
        points.append((at, lag))
        while points and at - points[0][0] > self.window:
            points.popleft()


LINE_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a")


def lag_lines_svg(history: LagHistory, width: int = 420, height: int = 120) -> str:
    """One polyline per group (time → lag), the newest point on the right edge, with the latest value."""
    latest = max((p[-1][0] for p in history.points.values() if p), default=0.0)
    top = max((lag for p in history.points.values() for _, lag in p), default=0) or 1
    lines, legend = [], []
    for colour, (group, points) in zip(LINE_COLOURS, sorted(history.points.items()), strict=False):
        coords = " ".join(
            f"{width - (latest - at) / history.window * width:.1f},{height - lag / top * (height - 10):.1f}"
            for at, lag in points
        )
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{coords}'/>")
        now = points[-1][1] if points else 0
        legend.append(f"<span style='color:{colour}'>■ {html.escape(group)}: <b>{now}</b></span>")
    return (
        f"<div class='labkit-lag-lines'><b>lag per group</b> (last {history.window:g} s, top {top})<br>"
        f"<svg width='{width}' height='{height}' style='border:1px solid #ddd'>{''.join(lines)}</svg><br>"
        f"<small>{'<br>'.join(legend) or 'no group yet'}</small></div>"
    )


def read_groups(admin: Admin, groups: list[str]) -> dict[str, GroupDescription]:
    """Each group as described now (groups that cannot be described right now are left out)."""
    described = {}
    for group in groups:
        try:
            described[group] = describe_group(admin, group)
        except ClusterError:
            continue
    return described


def stalls_html(stalls: list[Stall]) -> str:
    """The stalled partitions (labkit.kafka.stalls), or that there are none."""
    if not stalls:
        return "<small class='labkit-stalls'>stalled partitions: none</small>"
    items = "".join(f"<li>{html.escape(str(s))}</li>" for s in stalls[:10])
    more = f"<li>… and {len(stalls) - 10} more</li>" if len(stalls) > 10 else ""
    return (
        f"<div class='labkit-stalls' style='color:#b71c1c'><b>stalled partitions: {len(stalls)}</b>"
        f"<ul>{items}{more}</ul></div>"
    )
