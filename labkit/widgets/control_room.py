"""The control room: break labkit's own cluster at a click and watch what it does — the cluster panel, a lag
line per group, the faults done, and a message inspector. A tab of the dashboard (`Dashboard`), refreshed by
its refresher thread (`refresh()`); each fault runs in a short-lived thread of its own (a restart takes
seconds), so clicks never hold the kernel. `close()` joins them and undoes the faults still timed.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable

import ipywidgets as w

from labkit.cluster.local import LocalCluster
from labkit.cluster.network import CLIENTS
from labkit.domain.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder
from labkit.errors import LabkitError
from labkit.experiments.chaos import Chaos, Fault
from labkit.experiments.cluster_panel import (
    LagHistory,
    cluster_panel_html,
    lag_lines_svg,
    read_cluster_view,
    read_groups,
    stalls_html,
)
from labkit.experiments.inspector import inspect_partition, inspector_html
from labkit.kafka.stalls import StallDetector
from labkit.lab import Lab

FAULT_LOG = 8  # faults shown, newest last


class ControlRoom:
    """Fault buttons for one broker (or a link), with an optional duration; the cluster as it is now."""

    def __init__(self, lab: Lab, event_id: int) -> None:
        self.lab = lab
        self.event_id = event_id
        self.local = LocalCluster(lab.settings.home)
        self.lag = LagHistory()
        self.detectors: dict[str, StallDetector] = {}  # per group: partitions with lag whose commit stands still
        self._threads: list[threading.Thread] = []
        self._note = ""
        self._drawn_from = 0.0  # when the cluster view last drawn was read (time.monotonic())
        self._lock = threading.Lock()
        try:
            self.chaos: Chaos | None = lab.chaos
            nodes = [b.node_id for b in self.local.status().brokers]
            refusal = ""
        except LabkitError as error:  # a cluster labkit did not start: nothing to break, nothing to show
            self.chaos, nodes, refusal = None, [], str(error)
        self._build(nodes, refusal)

    def _build(self, nodes: list[int], refusal: str) -> None:
        self.broker = w.Dropdown(options=nodes, description="Broker")
        self.duration = w.BoundedFloatText(value=0, min=0, max=3600, description="For (s)", tooltip="0: until healed")
        buttons = {
            "kill": ("Kill", "danger", lambda c, n, d: c.kill(n, d)),
            "restart": ("Restart", "success", lambda c, n, d: c.restart()),
            "pause": ("Pause", "warning", lambda c, n, d: c.pause(n, d)),
            "resume": ("Resume", "success", lambda c, n, d: c.resume(n)),
            "isolate-peers": ("Isolate from peers", "warning", lambda c, n, d: c.isolate(n, "peers", d)),
            "isolate-everyone": ("Isolate from all", "danger", lambda c, n, d: c.isolate(n, "everyone", d)),
            "heal": ("Heal everything", "success", lambda c, n, d: c.heal()),
        }
        self.buttons: dict[str, w.Button] = {}
        for name, (label, style, action) in buttons.items():
            button = w.Button(description=label, button_style=style)
            button.add_class(f"labkit-fault-{name}")
            button.on_click(lambda _, act=action, what=name: self.act(what, act))
            self.buttons[name] = button
        self.link_a = w.Dropdown(options=nodes, description="Cut link")
        self.link_b = w.Dropdown(options=[*nodes, CLIENTS], value=nodes[1] if len(nodes) > 1 else None)
        cut = w.Button(description="Cut", button_style="warning")
        cut.add_class("labkit-fault-cut")
        cut.on_click(lambda _: self.act("cut", lambda c, n, d: c.cut(self.link_a.value, self.link_b.value, d)))
        self.buttons["cut"] = cut
        self.cluster_panel = w.HTML(refusal and f"<b>no control room:</b> {refusal}")
        self.lag_lines = w.HTML()
        self.fault_log = w.HTML()
        self.inspect_topic = w.Dropdown(options=self._topics(), description="Topic")
        self.inspect_partition = w.BoundedIntText(value=0, min=0, max=9999, description="Partition")
        self.inspect_offset = w.Text(value="", description="From", placeholder="offset, -30s, or empty: the last")
        self.inspect_button = w.Button(description="Read", icon="search")
        self.inspect_button.add_class("labkit-inspect")
        self.inspect_button.on_click(lambda _: self.inspect())
        self.inspector = w.HTML()
        for widget, name in (
            (self.duration, "fault-duration"),
            (self.cluster_panel, "cluster"),
            (self.lag_lines, "lag"),
            (self.fault_log, "faults"),
            (self.inspector, "inspector"),
        ):
            widget.add_class(f"labkit-{name}")
        for button in self.buttons.values():
            button.disabled = self.chaos is None
        faults = w.VBox(
            [
                self.broker,
                self.duration,
                w.HBox([self.buttons[n] for n in ("kill", "restart", "pause", "resume")]),
                w.HBox([self.buttons[n] for n in ("isolate-peers", "isolate-everyone")]),
                w.HBox([self.link_a, self.link_b, cut]),
                self.buttons["heal"],
                self.fault_log,
            ]
        )
        picker = w.HBox([self.inspect_topic, self.inspect_partition, self.inspect_offset, self.inspect_button])
        inspector = w.VBox([picker, self.inspector])
        self.widget = w.VBox([w.HBox([faults, w.VBox([self.cluster_panel, self.lag_lines])]), inspector])
        self.widget.add_class("labkit-control-room")

    def _topics(self) -> list[str]:
        return [
            KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(self.event_id),
            KafkaTopicBuilder.seat_reserved__seat_reservation_to_ticketing(self.event_id),
            KafkaTopicBuilder.seat_reservation_failed__seat_reservation_to_ticketing(self.event_id),
        ]

    # -- clicks ------------------------------------------------------------------------------------------------
    def act(self, name: str, action: Callable[[Chaos, int, float | None], Fault | list[Fault]]) -> threading.Thread:
        """Run one fault button's action in a thread of its own; what it did goes to the fault log."""
        chaos = self.chaos
        node, duration = self.broker.value, (self.duration.value or None)

        def run() -> None:
            if chaos is None:
                return
            try:
                done = action(chaos, node, duration)
            except Exception as error:  # shown, not raised: the thread has no caller
                self._say(f"{name} refused: {error}")
                return
            if not done:
                self._say("nothing to heal")
            self._show_faults()
            try:
                self._show_cluster()  # now, not at the next refresh: a pause of a few seconds could fall between two
            except Exception as error:  # shown, not raised: the next refresh tries again
                self._say(f"the cluster not read: {error}")

        thread = threading.Thread(target=run, name=f"labkit-control-{name}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def inspect(self) -> None:
        """What Read does: the records of the chosen partition from the offset or time in 'From'."""
        start = self.inspect_offset.value.strip()
        offset = since_ms = None
        try:
            if start.startswith("-") and start.endswith("s"):
                since_ms = int((time.time() - float(start[1:-1])) * 1000)
            elif start:
                offset = int(start)
            topic, partition = self.inspect_topic.value, self.inspect_partition.value
            records = inspect_partition(self.lab.bootstrap_servers, topic, partition, offset, since_ms)
            self.inspector.value = inspector_html(topic, partition, records)
        except (ValueError, LabkitError) as error:
            self.inspector.value = f"<b>not read:</b> {error} (From: an offset, -30s for the last 30 s, or empty)"

    def _say(self, line: str) -> None:
        """A line under the fault log until the next refresh: a refusal, or that there was nothing to do."""
        with self._lock:
            self._note = line
        self._show_faults()

    def _show_faults(self) -> None:
        """The last faults recorded in this home (from any process: a click, a timer, `labkit chaos`)."""
        if self.chaos is None:
            return
        lines = [str(fault) for fault in self.chaos.history(FAULT_LOG)]
        with self._lock:
            note = self._note
        shown = "<br>".join(f"<small>{html.escape(line)}</small>" for line in lines)
        _set(self.fault_log, shown + (f"<br><small><b>{html.escape(note)}</b></small>" if note else ""))

    def _show_cluster(self) -> None:
        """Draw the cluster as read now. A fault's thread and the refresher both draw it: a read that began before
        the one last drawn is dropped, so a slow refresh cannot put back the state from before a fault."""
        began = time.monotonic()
        panel = cluster_panel_html(read_cluster_view(self.local, self.lab.runtime.admin))
        with self._lock:
            if began < self._drawn_from:
                return
            self._drawn_from = began
            _set(self.cluster_panel, panel)

    # -- the dashboard's refresher thread ----------------------------------------------------------------------
    def refresh(self, with_lag: bool = True) -> None:
        """Read the cluster (and the groups' lag) and redraw; a no-op for a cluster labkit did not start."""
        if self.chaos is None:
            return
        self._show_cluster()
        self._show_faults()
        if with_lag:
            groups = KafkaConsumerGroupBuilder.get_all_groups(self.event_id)
            now, stalls = time.monotonic(), []
            for group, described in read_groups(self.lab.runtime.admin, groups).items():
                self.lag.add(group.split("_____")[-1], described.total_lag, now)
                stalls += self.detectors.setdefault(group, StallDetector()).observe(described, now)
            _set(self.lag_lines, lag_lines_svg(self.lag) + stalls_html(stalls))

    def close(self, timeout: float = 30.0) -> None:
        """Join the fault threads, then undo what still waits for its duration."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        if self.chaos is not None:
            self.chaos.close()
            self._show_faults()


def _set(widget: w.HTML, value: str) -> None:
    if widget.value != value:
        widget.value = value
