"""A partition's log segment as Kafka stores it, read with Kafka's own `kafka-dump-log` (DumpLogSegments).

Each line of the dump is one record batch: its offsets, and the idempotent producer's id, epoch and sequence
numbers. The broker keeps, per producer id, the sequence numbers of the last five batches of each partition; a
batch that arrives again (a retry after a lost acknowledgement) with a sequence it already holds is answered
"written" and not appended, and one that skips a sequence is refused (OUT_OF_ORDER_SEQUENCE_NUMBER). So in the
log each producer's batches follow each other without a gap or an overlap: `sequence_breaks` checks it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

BATCH_FIELDS: dict[str, Callable[[str], object]] = {
    "baseOffset": int,
    "lastOffset": int,
    "count": int,
    "baseSequence": int,
    "lastSequence": int,
    "producerId": int,
    "producerEpoch": int,
    "partitionLeaderEpoch": int,
    "isTransactional": lambda v: v == "true",
    "isControl": lambda v: v == "true",
    "CreateTime": int,
    "size": int,
}
_FIELD = re.compile(r"(\w+): (\S+)")


def parse_dump(text: str) -> pd.DataFrame:
    """One row per batch line of `kafka-dump-log --files …` output (without --print-data-log); the columns of
    BATCH_FIELDS, in that order."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("baseOffset:"):
            continue
        found = dict(_FIELD.findall(line))
        rows.append({name: convert(found[name]) for name, convert in BATCH_FIELDS.items() if name in found})
    return pd.DataFrame(rows, columns=list(BATCH_FIELDS))


def sequence_breaks(batches: pd.DataFrame) -> list[str]:
    """Where a producer's batches do not follow each other (each batch's baseSequence = the previous batch's
    lastSequence + 1, per producer id and epoch); empty for a log written by idempotent producers."""
    problems = []
    data = batches[~batches.isControl & (batches.producerId >= 0)]
    for (producer, epoch), own in data.groupby(["producerId", "producerEpoch"], sort=False):
        previous = None
        for batch in own.itertuples():
            if previous is not None and batch.baseSequence != previous + 1:
                problems.append(
                    f"producer {producer} epoch {epoch}: batch at offset {batch.baseOffset} starts at sequence "
                    f"{batch.baseSequence}, after {previous}"
                )
            previous = batch.lastSequence
    return problems
