"""The dashboard's live partition panel: the venue's sections by subsections, one cell per partition of
`reserve-seats`, coloured by the seat-reservation group's lag there, labelled with its owner and seats left.

How load spreads over partitions and consumers — and where lag builds up — is the question a Kafka lab exists
to answer. Reading (`read_partition_cells`, Kafka and Redis) is kept apart from drawing (`partition_panel_html`,
a pure function of plain data), so the drawing is tested without a broker or a browser.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass

import redis

from labkit.domain.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder
from labkit.domain.seating import SeatingConfig
from labkit.kafka.admin import Admin
from labkit.kafka.groups import describe_group
from labkit.kafka.topics import end_offsets
from labkit.store import keyspace

# lag → colour: none, a little, a batch's worth, a backlog
LAG_COLOURS = ((0, "#e8f5e9"), (1, "#fff59d"), (50, "#ffb74d"), (500, "#e57373"))
UNKNOWN_COLOUR = "#eeeeee"  # no committed offset and no owner yet


@dataclass(frozen=True)
class PartitionCell:
    """One partition of reserve-seats: the subsection it carries, its lag, its owner, the seats left there."""

    partition: int
    subsection_id: str  # e.g. "A-1"
    lag: int | None  # log-end offset - committed offset (0 if never committed); None: not known
    owner: str | None  # the owning consumer's client id
    seats_left: int | None
    committed: int | None = None  # the group's committed offset; None: never committed (or not known)
    log_end: int | None = None  # the log-end offset; None: not known


def lag_colour(lag: int | None) -> str:
    if lag is None:
        return UNKNOWN_COLOUR
    colour = LAG_COLOURS[0][1]
    for threshold, shade in LAG_COLOURS:
        if lag >= threshold:
            colour = shade
    return colour


def short_owner(client_id: str | None) -> str:
    """What tells consumers apart at a glance: the number at the end of the client id (`…-seat-reservation-3`
    → `#3`, a consumer process's `consumer-host-4242` → `#4242`); the full id is in the cell's tooltip."""
    if not client_id:
        return "-"
    last = client_id.rsplit("-", 1)[-1]
    return f"#{last}" if last.isdigit() else client_id[-12:]


def partition_panel_html(seating: SeatingConfig, cells: list[PartitionCell]) -> str:
    """A grid of sections (rows) by subsections (columns); below it, each consumer's partition count."""
    by_subsection = {cell.subsection_id: cell for cell in cells}
    rows = []
    for section in seating.sections:
        tds = [f"<th style='padding:0 4px'>{html.escape(section)}</th>"]
        for subsection in range(1, seating.subsections + 1):
            cell = by_subsection.get(f"{section}-{subsection}")
            if cell is None:
                tds.append(f"<td style='background:{UNKNOWN_COLOUR}'></td>")
                continue
            lag = "-" if cell.lag is None else str(cell.lag)
            left = "-" if cell.seats_left is None else str(cell.seats_left)
            title = (
                f"{cell.subsection_id}: partition {cell.partition}, lag {lag}, "
                f"owner {cell.owner or 'none'}, {left} seats left"
            )
            tds.append(
                f"<td class='labkit-partition' data-partition='{cell.partition}' data-lag='{lag}' "
                f"title='{html.escape(title)}' style='background:{lag_colour(cell.lag)};padding:2px 4px;"
                f"font-size:10px;line-height:1.2;text-align:center;min-width:64px'>"
                f"<b>p{cell.partition}</b> lag {lag}<br>{html.escape(short_owner(cell.owner))}<br>{left} left</td>"
            )
        rows.append(f"<tr>{''.join(tds)}</tr>")
    header = "".join(f"<th>{s}</th>" for s in range(1, seating.subsections + 1))
    counts = Counter(cell.owner for cell in cells if cell.owner)
    owners = " · ".join(f"{html.escape(short_owner(o))}: {n}" for o, n in sorted(counts.items())) or "no consumer"
    legend = " ".join(f"<span style='background:{c};padding:0 4px'>{label}</span>" for label, c in lag_legend())
    total = sum(cell.lag or 0 for cell in cells)
    return (
        f"<div class='labkit-partition-panel'><b>reserve-seats partitions</b> — seat-reservation lag {total}"
        f"<table style='border-collapse:separate;border-spacing:2px'><tr><th></th>{header}</tr>{''.join(rows)}"
        f"</table><small>{legend}</small><br><small class='labkit-partition-owners'>partitions per consumer: "
        f"{owners}</small></div>"
    )


def lag_legend() -> list[tuple[str, str]]:
    """(label, colour) per lag range of LAG_COLOURS: "lag 0", "lag 1–49", …, "lag ≥ 500"."""
    bounds = [t for t, _ in LAG_COLOURS[1:]]
    labels = []
    for (low, colour), high in zip(LAG_COLOURS, [*bounds, None], strict=True):
        if high is None:
            labels.append((f"lag ≥ {low}", colour))
        else:
            labels.append((f"lag {low}" if high == low + 1 else f"lag {low}–{high - 1}", colour))
    return labels


def read_partition_cells(
    admin: Admin, client: redis.Redis, event_id: int, seating: SeatingConfig
) -> list[PartitionCell]:
    """One describe of the seat-reservation group (commits and owners), the log-end offset of every partition,
    and one Redis round trip.

    Lag counts every partition, those the group never committed too: a consumer that gets one starts at its
    beginning (auto.offset.reset=earliest), so everything in it is still to be read. (Kafka's own
    kafka-consumer-groups lists only the partitions a group committed or owns.)
    """
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    group = describe_group(admin, KafkaConsumerGroupBuilder.seat_reservation_service(event_id))
    clients = {m.member_id: m.client_id for m in group.members}
    described = {p.partition: p for p in group.partitions if p.topic == topic}
    subsections = [f"{section}-{subsection}" for section, subsection in seating.subsection_ids()]
    ends = end_offsets(admin, [(topic, index) for index in range(len(subsections))])
    pipe = client.pipeline(transaction=False)
    for subsection_id in subsections:
        pipe.hget(keyspace.subsection_counters(event_id, subsection_id), "available")
    left = [int(v) if v is not None else None for v in pipe.execute()]
    cells = []
    for index, (subsection_id, seats_left) in enumerate(zip(subsections, left, strict=True)):
        found = described.get(index)
        owner = clients.get(found.member_id or "") if found else None
        committed = found.committed if found else None
        end = ends[(topic, index)]
        cells.append(PartitionCell(index, subsection_id, end - (committed or 0), owner, seats_left, committed, end))
    return cells
