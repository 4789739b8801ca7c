"""The booking dashboard's rendering: pure functions from plain data to HTML, testable without Redis or a browser.

`labkit.widgets.booking_dashboard` reads Redis and the brokers and puts these strings into its widgets. The CSS class
names (`labkit-seat-<state>`, `labkit-counter-<name>`, `labkit-rate`) are what the browser test looks for.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

SEAT_COLOURS = {"available": "#b6d7a8", "reserved": "#f6b26b", "sold": "#cc4125"}


def seat_state(available: bool, booking_id: str | None, confirmed: set[str]) -> str:
    """available; sold once its booking is RESERVED in the ticketing store; reserved while that is still on its
    way (the seat-reservation service took the seat, the ticketing service has not recorded the reply yet)."""
    if available:
        return "available"
    return "sold" if booking_id in confirmed else "reserved"


def seat_map_html(subsection_id: str, seats_per_row: int, seats: Iterable[tuple[str, str]]) -> str:
    """One square per (seat id, state), row by row, stage at the top."""
    cells = "".join(
        f'<div class="labkit-seat labkit-seat-{state}" title="{html.escape(seat_id)} {state}" '
        f'style="width:11px;height:11px;border-radius:2px;background:{SEAT_COLOURS[state]}"></div>'
        for seat_id, state in seats
    )
    legend = " ".join(f'<span style="color:{c}">■</span> {s}' for s, c in SEAT_COLOURS.items())
    return (
        f"<b>{html.escape(subsection_id)}</b> (stage at the top, row 1 first)<br>"
        f'<div style="display:grid;grid-template-columns:repeat({seats_per_row},11px);gap:2px">'
        f"{cells}</div><small>{legend}</small>"
    )


def outcomes_per_second(done_counts: Sequence[tuple[float, int]]) -> float:
    """From (monotonic time, outcomes so far) samples, oldest first: the rate between the first and the last."""
    (t0, d0), (t1, d1) = done_counts[0], done_counts[-1]
    return (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0


def rates_html(rate: float, latencies_ms: Iterable[float], waiting: int) -> str:
    """The event's outcomes per second (every booking, whoever sent it), then this dashboard's own bookings: the
    latency of its last ones and how many still wait for an outcome."""
    ordered = sorted(latencies_ms)
    if ordered:
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        latency = f"latency of its last {len(ordered)}: p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    else:
        latency = "no outcome yet"
    return (
        f'<div class="labkit-rate">event: {rate:.0f} outcomes/s · this dashboard\'s bookings: {latency}, '
        f"{waiting} waiting</div>"
    )


def counters_html(stats: Mapping[str, int], seats: Mapping[str, int]) -> str:
    """The event's outcome counters (failures by reason) and the shown subsection's seat counts."""
    rows = [("sent", stats.get("sent", 0)), ("reserved", stats.get("RESERVED", 0)), ("failed", stats.get("FAILED", 0))]
    rows += sorted((f"failed: {k.split(':', 1)[1]}", v) for k, v in stats.items() if k.startswith("failed:"))
    rows += [("seats available here", seats.get("available", 0)), ("seats reserved here", seats.get("reserved", 0))]
    body = "".join(
        f'<tr class="labkit-counter-{html.escape(name.split(":")[-1].strip().replace(" ", "-"))}">'
        f"<td>{html.escape(name)}</td><td style='text-align:right'>{value}</td></tr>"
        for name, value in rows
    )
    return f"<table>{body}</table>"


def outcome_line(booking_id: str, outcome: Mapping[str, str | None]) -> str:
    """One narrated outcome of a clicked booking: id, status, seats or reason, latency."""
    detail = outcome["seats"] if outcome["status"] == "RESERVED" else outcome["reason"]
    took = f"{float(outcome['latency_ms']):.0f} ms" if outcome["latency_ms"] else "?"
    return f"{booking_id[:8]} {outcome['status']} {detail} in {took}"
