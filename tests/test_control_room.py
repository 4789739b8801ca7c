"""The control room's drawing and decoding, from plain data: no broker, no browser."""

from __future__ import annotations

import pytest

from labkit.domain.messages import SeatReserved, encode
from labkit.experiments.cluster_panel import BrokerRow, ClusterView, LagHistory, cluster_panel_html, lag_lines_svg
from labkit.experiments.inspector import InspectedRecord, describe_value, inspector_html

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
