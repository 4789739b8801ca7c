"""Notebook 05's exercise: after a rush on three subsections, which one sold out first?

The check asks the seat store which subsections have no seat left, and the booking store when the booking that
took each one's last seat was answered.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from labkit.errors import WaitTimeout
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.experiments.load import wait_all

if TYPE_CHECKING:
    from labkit.lab import Lab

RUSHED = 3  # subsections rushed at once
WEIGHTS = (5, 3, 2)  # their shares of the requests: they sell out one after the other
RATE = 200  # requests per second, so that with the default venue they sell out about a second apart
CHUNK = 10  # requests per book_many call


@dataclass(frozen=True)
class Rush:
    booking_ids: list[str]


def rush(lab: Lab, event_id: int, seed: int | None = None, timeout: float = 120.0) -> Rush:
    """Requests of 4 seats (2 or 1 where 4 does not divide a subsection's seats, so that the last seats go too)
    to three untouched subsections picked at random, interleaved at RATE per second, each subsection getting a
    different share, until all three have had enough requests to sell out; waits for every outcome."""
    seating = lab.runtime.inventory.require_seating(event_id)
    rng = random.Random(seed)
    free = lab.runtime.inventory.seats_left(event_id)
    untouched = [(s, n) for s, n in seating.subsection_ids() if free[f"{s}-{n}"] == seating.seats_per_subsection]
    chosen = rng.sample(untouched, RUSHED)
    quantity = next(q for q in (4, 2, 1) if seating.seats_per_subsection % q == 0)
    needed = math.ceil(seating.seats_per_subsection / quantity) + 2
    counts = dict.fromkeys(chosen, 0)
    orders = []
    while min(counts.values()) < needed:
        pick = rng.choices(chosen, WEIGHTS)[0]
        counts[pick] += 1
        orders.append({"section": pick[0], "subsection": pick[1], "quantity": quantity})
    ids: list[str] = []
    started = time.monotonic()
    for first in range(0, len(orders), CHUNK):  # open loop: request i is due at start + i / RATE
        time.sleep(max(0.0, started + first / RATE - time.monotonic()))  # pacing the load, not awaiting a result
        ids += [b.booking_id for b in lab.book_many(orders[first : first + CHUNK], event_id=event_id)]
    left = wait_all(lab, event_id, ids, timeout)
    if left:
        raise WaitTimeout(f"{left} of the rush's {len(ids)} bookings got no outcome within {timeout:.0f} s")
    return Rush(ids)


def sold_out_at(lab: Lab, event_id: int) -> dict[str, pd.Timestamp]:
    """Subsection → when the booking that took its last seat was answered, for every subsection the seat store
    says has no seat left."""
    empty = {subsection for subsection, left in lab.runtime.inventory.seats_left(event_id).items() if left == 0}
    bookings = lab.bookings(event_id)
    reserved = bookings[
        (bookings.status == "RESERVED") & (bookings.section + "-" + bookings.subsection.astype(str)).isin(empty)
    ]
    answered = reserved.requested_at + pd.to_timedelta(reserved.latency_ms, unit="ms")
    where = reserved.section + "-" + reserved.subsection.astype(str)
    return {str(k): v for k, v in answered.groupby(where).max().items()}


def _judge(answer: object, lab: Lab, event_id: int) -> Verdict:
    seating = lab.runtime.inventory.require_seating(event_id)
    if not isinstance(answer, str) or not re.fullmatch(r"[A-Z]-\d+", answer):
        return wrong(f"answer with a subsection's id, like 'C-4'; got {answer!r}")
    section, number = answer.split("-")
    if section not in seating.sections or not 1 <= int(number) <= seating.subsections:
        return wrong(
            f"{answer} is not a subsection of this venue (sections {seating.sections}, 1 to {seating.subsections})"
        )
    times = sold_out_at(lab, event_id)
    if not times:
        return wrong("no subsection is sold out yet: run the rush first")
    order = sorted(times, key=lambda s: times[s])
    first = order[0]
    if answer not in times:
        left = lab.runtime.inventory.seats_left(event_id)[answer]
        return wrong(
            f"{answer} has {left} seats left: it did not sell out (the panel shows 0 seats left where one did)"
        )
    timeline = ", ".join(f"{s} at +{(times[s] - times[first]).total_seconds():.2f} s" for s in order[1:])
    if answer != first:
        return wrong(
            f"{answer} sold out, but {(times[answer] - times[first]).total_seconds():.2f} s after {first}: the booking "
            f"that took {first}'s last seat was answered at {times[first].strftime('%H:%M:%S.%f')[:-3]}"
        )
    return correct(f"{first} sold out first; then {timeline or 'no other'}.")


def _reference(lab: Lab, event_id: int) -> str:
    seats_per_subsection = lab.runtime.inventory.require_seating(event_id).seats_per_subsection
    reserved = lab.bookings(event_id).query("status == 'RESERVED'")
    reserved = reserved.assign(
        subsection_id=reserved.section + "-" + reserved.subsection.astype(str),
        taken=reserved.seats.map(len),
        answered_at=reserved.requested_at + pd.to_timedelta(reserved.latency_ms, unit="ms"),
    )
    per_subsection = reserved.groupby("subsection_id").agg(taken=("taken", "sum"), last=("answered_at", "max"))
    sold_out = per_subsection[per_subsection.taken == seats_per_subsection]  # the panel's cells with 0 seats left
    return str(sold_out["last"].idxmin())  # whose last seat went first


first_sold_out = Exercise(
    key="05.first_sold_out",
    notebook="05_dashboard",
    title="which subsection sold out first?",
    statement=(
        f"`rush` sends requests of 4 seats to three subsections at {RATE}/s, each getting a different share of them, "
        "until all three are sold out. The snapshot below shows which subsections have no seat left. Which of them "
        "sold out first? Answer with its id, like 'C-4'."
    ),
    hints=(
        "the partition panel's cells with 0 seats left are the sold-out subsections",
        "lab.bookings(event_id) has each booking's requested_at and latency_ms: it was answered at their sum",
        "a subsection sold out when the booking that took its last seat was answered: the latest RESERVED one there",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (first_sold_out,)
