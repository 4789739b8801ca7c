"""The control room's drawing and decoding, and the stall detector, from plain data: no broker, no browser."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from labkit.domain.messages import SeatReserved, encode
from labkit.experiments.cluster_panel import BrokerRow, ClusterView, LagHistory, cluster_panel_html, lag_lines_svg
from labkit.experiments.inspector import InspectedRecord, describe_value, inspector_html
from labkit.kafka.groups import GroupDescription, MemberInfo, PartitionLag
from labkit.kafka.stalls import StallDetector

pytestmark = pytest.mark.unit


def view(*states: str) -> ClusterView:
    rows = [
        BrokerRow(n, f"10.213.7.{n}:39092", state, state != "down", 3 if state == "up" else 0, 5, 6, 1, 4)
        for n, state in enumerate(states, start=1)
    ]
    return ClusterView(rows, 18, 2, 0, ["broker 1 ↔ broker 2"], "10.213.7.1:39092/1")


def test_each_broker_row_carries_its_state_for_the_eye_and_for_tests() -> None:
    drawn = cluster_panel_html(view("up", "paused", "down"))
    assert "class='labkit-broker labkit-broker-2' data-state='paused'" in drawn
    assert "data-state='down'" in drawn and "#e57373" in drawn  # down is red
    assert "<span class='labkit-under-replicated'>2</span> under-replicated" in drawn
    assert "links cut: <span class='labkit-cut-links'>broker 1 ↔ broker 2</span>" in drawn
    assert "1 (epoch 4)" in drawn  # the quorum leader node 1 recorded
    nobody = ClusterView(view("down").brokers, None, None, None)
    assert "no broker answered for metadata" in cluster_panel_html(nobody)


def test_the_lag_line_keeps_its_window_and_shows_the_latest_value() -> None:
    history = LagHistory(window=10)
    for second, lag in enumerate([0, 5, 40, 12]):
        history.add("seat-reservation", lag, at=100.0 + second * 4)
    points = history.points["seat-reservation"]
    assert [lag for _, lag in points] == [5, 40, 12]  # the first point is older than 10 s
    drawn = lag_lines_svg(history)
    assert "seat-reservation: <b>12</b>" in drawn and drawn.count("<polyline") == 1 and "top 40" in drawn


def test_values_are_shown_as_labkits_messages_else_text_else_bytes() -> None:
    reply = SeatReserved("b-1", 7, "A", 1, ("A-1-1-1",), total_price=100, subsection_available=9, subsection_reserved=1)
    kind, shown = describe_value(encode(reply))
    assert kind == "SeatReserved" and '"booking_id": "b-1"' in shown
    assert describe_value(b"hello") == ("text", "hello")
    assert describe_value(b"\xff\x00") == ("bytes", "ff 00")
    assert describe_value(None) == ("tombstone", "")
    record = InspectedRecord(4, 1_700_000_000_000, None, [("trace", "x<y")], "<v>", "text")
    drawn = inspector_html("t", 0, [record])
    assert "∅" in drawn and "trace=x&lt;y" in drawn and "&lt;v&gt;" in drawn and "1 record(s)" in drawn


def group(committed: Mapping[int, int | None], owners: Mapping[int, str | None], ends: int = 10) -> GroupDescription:
    def owned(member: str) -> tuple[tuple[str, int], ...]:
        return tuple(("t", p) for p, o in owners.items() if o == member)

    members = [
        MemberInfo("m-a", "consumer-a", "h", owned("m-a"), target=(("t", 2),)),
        MemberInfo("m-b", "consumer-b", "h", owned("m-b")),
    ]
    partitions = [PartitionLag("t", p, committed[p], ends, owners[p]) for p in committed]
    return GroupDescription("g", "Stable", members, partitions)


def test_a_partition_with_lag_whose_commit_stands_still_is_reported_after_the_wait() -> None:
    detector = StallDetector(after=10)
    owners = {0: "m-a", 1: "m-b", 2: None}
    assert detector.observe(group({0: 3, 1: 10, 2: 0}, owners), now=0) == []
    assert detector.observe(group({0: 5, 1: 10, 2: 0}, owners), now=6) == []  # partition 0 moved
    stalls = detector.observe(group({0: 5, 1: 10, 2: 0}, owners), now=12)
    assert [(s.partition, s.owner, s.target, s.lag) for s in stalls] == [(2, None, "consumer-a", 10)]
    assert str(stalls[0]) == "t[2]: lag 10, owned by no member for 12 s (the coordinator's target: consumer-a)"
    later = detector.observe(group({0: 5, 1: 10, 2: 0}, owners), now=16.5)
    assert [(s.partition, round(s.seconds, 1)) for s in later] == [(0, 10.5), (2, 16.5)]  # 1 has no lag
    assert "owned by consumer-a, committed offset still for 10 s" in str(later[0])
    moved = {0: "m-b", 1: "m-b", 2: "m-a"}  # a new owner starts the wait again
    assert detector.observe(group({0: 5, 1: 10, 2: 0}, moved), now=17) == []
