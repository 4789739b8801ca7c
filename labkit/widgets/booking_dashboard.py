"""The booking dashboard: ipywidgets over a Lab, kept live by one background refresher thread.

The kernel stays idle while the dashboard shows, so button clicks reach it at once: clicks only send (a few
milliseconds), a burst is sent from its own short-lived thread, and everything that reads Redis runs in the
refresher thread, which sets widget values (never `with output:` from a thread). `close()` stops and joins both.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import ipywidgets as w
from IPython.display import HTML

from labkit.checks import is_int, is_number, parse_event_id
from labkit.domain.booking import RESERVED, TERMINAL
from labkit.errors import ConfigError, WaitTimeout
from labkit.experiments.load import send_burst
from labkit.experiments.partition_panel import partition_panel_html, read_partition_cells
from labkit.lab import Lab
from labkit.polling import poll
from labkit.services.ticketing import Booking
from labkit.widgets.control_room import ControlRoom
from labkit.widgets.seat_view import (
    counters_html,
    outcome_line,
    outcomes_per_second,
    rates_html,
    seat_map_html,
    seat_state,
)

RATE_WINDOW = 3.0  # seconds of outcome counts behind the outcomes/s figure
LATENCY_WINDOW = 200  # latest outcomes of this dashboard's own bookings behind the latency figures
PANEL_INTERVAL = 1.0  # seconds between reads of the partition panel (one group describe: 3 admin requests)
CONTROL_ROOM = 1  # the control room's tab


class Dashboard:
    """Pick a subsection, book seats, fire bursts, and watch the seat map, the partition panel (lag and owner of
    every partition), the counters and the rates."""

    def __init__(self, lab: Lab, event_id: int = 1, refresh_interval: float = 0.25, burst_size: int = 100) -> None:
        self.lab = lab  # books through it
        self.runtime = lab.runtime  # reads the seats, the bookings and the partitions through it
        self.event_id = parse_event_id(event_id)
        if not is_number(refresh_interval) or not 0.05 <= refresh_interval <= 5:
            raise ConfigError(f"refresh_interval must be 0.05 to 5 seconds, got {refresh_interval!r}")
        self.seating = self.runtime.inventory.require_seating(self.event_id)
        self.refresh_interval = float(refresh_interval)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reading = threading.RLock()  # the refresher, wait() and snapshot() read and count in turn
        self._pending: list[Booking] = []
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._done_counts: deque[tuple[float, int]] = deque()
        self._burst: threading.Thread | None = None
        self._panel_read_at = 0.0
        self._build(burst_size, self.runtime.inventory.max_quantity)
        self._refresher = threading.Thread(target=self._refresh_loop, name=f"labkit-dashboard-{event_id}", daemon=True)
        self._refresher.start()

    # -- layout ------------------------------------------------------------------------------------------------
    def _build(self, burst_size: int, max_quantity: int) -> None:
        self.section = w.Dropdown(options=list(self.seating.sections), description="Section")
        self.subsection = w.Dropdown(options=list(range(1, self.seating.subsections + 1)), description="Subsection")
        self.mode = w.ToggleButtons(options=[("Best available", "quantity"), ("Pick seats", "seats")])
        self.quantity = w.IntSlider(value=2, min=1, max=max_quantity, description="Quantity")
        self.seats = w.SelectMultiple(options=[], rows=6, description="Seats")
        self.book_button = w.Button(description="Book", button_style="primary", icon="ticket")
        self.burst_size = w.BoundedIntText(value=burst_size, min=1, max=20_000, description="Burst of")
        self.burst_scope = w.ToggleButtons(options=[("this subsection", "subsection"), ("whole venue", "venue")])
        self.burst_button = w.Button(description="Send burst", button_style="warning", icon="bolt")
        self.seat_map = w.HTML()
        self.counters = w.HTML()
        self.rates = w.HTML()
        self.partition_panel = w.HTML()
        self.log = w.Output(layout=w.Layout(height="140px", overflow="auto", border="1px solid #ddd"))
        for widget, name in (
            (self.seat_map, "seat-map"),
            (self.counters, "counters"),
            (self.rates, "rates"),
            (self.partition_panel, "partitions"),
            (self.book_button, "book"),
            (self.burst_button, "burst"),
            (self.log, "log"),
        ):
            widget.add_class(f"labkit-{name}")
        self.book_button.on_click(lambda _: self.book())
        self.burst_button.on_click(lambda _: self.burst())
        self.section.observe(self._on_subsection, names="value")
        self.subsection.observe(self._on_subsection, names="value")
        self.mode.observe(self._on_mode, names="value")
        self._on_mode()
        self._load_seat_options()
        controls = w.VBox(
            [
                self.section,
                self.subsection,
                self.mode,
                self.quantity,
                self.seats,
                self.book_button,
                w.HTML("<hr>"),
                self.burst_size,
                self.burst_scope,
                self.burst_button,
            ]
        )
        board = w.VBox([w.HBox([self.seat_map, self.partition_panel]), self.counters, self.rates])
        self.control_room = ControlRoom(self.lab, self.event_id)
        self.tabs = w.Tab(children=[w.HBox([controls, board]), self.control_room.widget])
        self.tabs.set_title(0, "Bookings")
        self.tabs.set_title(1, "Control room")
        self.widget = w.VBox([w.HTML(f"<h3>labkit — event {self.event_id}</h3>"), self.tabs, self.log])
        self.widget.add_class("labkit-dashboard")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def snapshot(self, read_panel: bool = False) -> HTML:
        """The seat map, partition panel, counters and rates as they are now, as static HTML (for saved
        notebooks and reports). The panel is the refresher's latest (at most PANEL_INTERVAL s old), unless
        `read_panel` asks the brokers for it now. Columns wrap on a narrow page instead of being cut."""
        self.refresh()
        if read_panel:
            self._refresh_panel(now_please=True)
        return HTML(
            f"<div style='display:flex;flex-wrap:wrap;gap:2em'><div>{self.seat_map.value}</div>"
            f"<div>{self.partition_panel.value}</div>"
            f"<div>{self.counters.value}{self.rates.value}</div></div>"
        )

    # -- clicks (kernel thread: fast, no waiting) --------------------------------------------------------------
    def book(self) -> Booking | None:
        """What the Book button does: send one booking as the pickers say (None when the input is refused)."""
        section, subsection = self.section.value, self.subsection.value
        try:
            if self.mode.value == "quantity":
                booking = self.lab.book(self.event_id, section, subsection, quantity=self.quantity.value)
            else:
                booking = self.lab.book(self.event_id, section, subsection, seats=list(self.seats.value))
        except ConfigError as error:
            self._say(f"not sent: {error}")
            return None
        with self._lock:
            self._pending.append(booking)
        self._say(f"sent {booking.booking_id[:8]} → {section}-{subsection} (partition {booking.partition})")
        return booking

    def burst(self, count: int | None = None) -> None:
        """What the burst button does: send `count` (default: the 'Burst of' box) bookings from a thread."""
        if self._burst is not None and self._burst.is_alive():
            self._say("a burst is still being sent")
            return
        if count is not None:
            if not is_int(count) or not 1 <= count <= self.burst_size.max:
                raise ConfigError(f"count must be an integer from 1 to {self.burst_size.max}, got {count!r}")
            self.burst_size.value = count
        count = self.burst_size.value
        where = {"section": self.section.value, "subsection": self.subsection.value}
        if self.burst_scope.value == "venue":
            where = {}
        self._burst = threading.Thread(target=self._send_burst, args=(count, where), name="labkit-burst", daemon=True)
        self._burst.start()

    def _send_burst(self, count: int, where: dict[str, Any]) -> None:
        self.burst_button.disabled = True
        started = time.monotonic()
        try:
            sent = send_burst(self.lab, self.event_id, count, (1, self.quantity.max), **where)
        except Exception as error:  # shown, not raised: this thread has no caller to raise to
            self._say(f"burst stopped: {error}")
            return
        finally:
            self.burst_button.disabled = False
        with self._lock:
            self._pending.extend(sent)
        self._say(f"burst of {count} sent in {time.monotonic() - started:.2f} s")

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the running burst is sent and every booking of this dashboard has its outcome."""
        started = time.monotonic()
        if self._burst is not None:
            self._burst.join(timeout)

        def none_pending() -> bool:
            self._collect_outcomes()
            with self._lock:
                return not self._pending

        if not poll(none_pending, timeout - (time.monotonic() - started)):
            raise WaitTimeout(f"{len(self._pending)} bookings of the dashboard still pending after {timeout} s")

    def _on_subsection(self, _: Any = None) -> None:
        self._load_seat_options()

    def _on_mode(self, _: Any = None) -> None:
        self.quantity.layout.display = "" if self.mode.value == "quantity" else "none"
        self.seats.layout.display = "none" if self.mode.value == "quantity" else ""

    def _load_seat_options(self) -> None:
        rows = self.runtime.inventory.seat_states(self.event_id, self.section.value, self.subsection.value)
        self.seats.options = [r["seat_id"] for r in rows if r["state"] == "available"]

    def _say(self, line: str) -> None:
        self.log.append_stdout(f"{time.strftime('%H:%M:%S')} {line}\n")

    # -- the refresher thread ----------------------------------------------------------------------------------
    def _refresh_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
                self._refresh_panel()
            except Exception as error:  # a broker or Redis hiccup must not end the dashboard
                self._say(f"refresh failed: {error}")
                self._stop.wait(2.0)
            self._stop.wait(self.refresh_interval)

    def _refresh_panel(self, now_please: bool = False) -> None:
        """The partition panel, at most every PANEL_INTERVAL s, outside the `_reading` lock: its group describe
        goes to the brokers, and wait() / snapshot() must never queue behind it (unless asked: `now_please`)."""
        now = time.monotonic()
        if now - self._panel_read_at < PANEL_INTERVAL and not now_please:
            return
        self._panel_read_at = now
        if self.tabs.selected_index == CONTROL_ROOM:  # only what shows is read: each read asks the brokers
            self.control_room.refresh()
            return
        cells = read_partition_cells(self.runtime.admin, self.runtime.redis, self.event_id, self.seating)
        _set(self.partition_panel, partition_panel_html(self.seating, cells))

    def refresh(self) -> None:
        """Read Redis once and update every widget whose content changed."""
        with self._reading:
            self._refresh()

    def _refresh(self) -> None:
        self._collect_outcomes()
        stats = self.runtime.store.stats(self.event_id)
        now = time.monotonic()
        done = stats.get("RESERVED", 0) + stats.get("FAILED", 0)
        self._done_counts.append((now, done))
        while now - self._done_counts[0][0] > RATE_WINDOW:
            self._done_counts.popleft()
        _set(self.seat_map, self._seat_map_html())
        _set(
            self.counters,
            counters_html(
                stats, self.runtime.inventory.counters(self.event_id, f"{self.section.value}-{self.subsection.value}")
            ),
        )
        _set(self.rates, self._rates_html())

    def _collect_outcomes(self) -> None:
        with self._reading:  # each outcome is counted once, whoever collects it
            self._collect_pending()

    def _collect_pending(self) -> None:
        with self._lock:
            pending = list(self._pending)
        if not pending:
            return
        outcomes = self.runtime.store.outcomes(self.event_id, [b.booking_id for b in pending])
        finished = set()
        for booking, outcome in zip(pending, outcomes, strict=True):
            if outcome["status"] in TERMINAL:
                finished.add(booking.booking_id)
                if outcome["latency_ms"]:
                    self._latencies.append(float(outcome["latency_ms"]))
                if len(pending) <= 5:  # single clicks are narrated; bursts only counted
                    self._say(outcome_line(booking.booking_id, outcome))
        with self._lock:
            self._pending = [b for b in self._pending if b.booking_id not in finished]

    def _seat_map_html(self) -> str:
        rows = self.runtime.inventory.seat_states(self.event_id, self.section.value, self.subsection.value)
        owners = sorted({r["booking_id"] for r in rows if r["booking_id"]})
        confirmed = {
            b for b, s in zip(owners, self.runtime.store.statuses(self.event_id, owners), strict=True) if s == RESERVED
        }
        seats = [(r["seat_id"], seat_state(r["state"] == "available", r["booking_id"], confirmed)) for r in rows]
        return seat_map_html(f"{self.section.value}-{self.subsection.value}", self.seating.seats_per_row, seats)

    def _rates_html(self) -> str:
        with self._lock:
            waiting = len(self._pending)
        return rates_html(outcomes_per_second(self._done_counts), self._latencies, waiting)

    # -- closing -----------------------------------------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> None:
        """Stop and join the refresher (and a running burst), close the control room (its faults still timed are
        undone), then close the widgets."""
        self._stop.set()
        for thread in (self._refresher, self._burst):
            if thread is not None:
                thread.join(timeout)
        self.control_room.close()
        _close_tree(self.widget)

    @property
    def running(self) -> bool:
        return self._refresher.is_alive()


def _set(widget: w.HTML, value: str) -> None:
    if widget.value != value:  # unchanged content is not re-sent to the browser
        widget.value = value


def _close_tree(widget: w.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
