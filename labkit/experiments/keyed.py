"""Keys, partitions and order (notebook 10): Kafka's default partitioner, and what order a consumer sees.

Without an explicit partition a producer picks one from the record's key. Kafka's Java producer (and librdkafka
with `partitioner=murmur2_random`) takes murmur2 of the key's bytes, makes it positive and takes it modulo the
partition count: `default_partition`. A hash spreads keys *at random*, so 100 keys over 100 partitions leave
about a third of the partitions empty and put two or more keys in others; the spec's
`SectionBasedPartitionStrategy` gives each subsection a partition of its own. (librdkafka's own default,
`consistent_random`, hashes with CRC32 instead: the same key lands elsewhere than with a Java producer.)

Order: a partition is a log, so its records are read in the order they were written; records in different
partitions have no order between them. `order_report` shows both, from a consumer's side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import pandas as pd

from labkit.checks import is_int
from labkit.errors import ConfigError
from labkit.experiments.reading import LogRecord
from labkit.kafka.producer import ReliableProducer

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2` (seed 0x9747b28c) as a signed 32-bit int, as Java returns it."""
    h = (0x9747B28C ^ len(data)) & _MASK
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = data[whole:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h ^= rest[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def default_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record: `toPositive(murmur2(key)) % partitions`."""
    if not is_int(partitions) or partitions < 1:
        raise ConfigError(f"partitions must be a positive integer, got {partitions!r}")
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class KeyedRecord:
    """A record to write: with `partition` None the producer's partitioner picks it from `key`."""

    key: str | None
    value: bytes | None  # None: a tombstone
    partition: int | None = None


def write_records(bootstrap_servers: str, topic: str, records: Iterable[KeyedRecord], timeout: float = 60.0) -> int:
    """Write the records in this order with labkit's ReliableProducer (idempotent, acks=all, so retries keep each
    partition's order; Kafka's default partitioner for the keyed ones); returns how many were written,
    DeliveryError if any was not acknowledged."""
    producer = ReliableProducer(bootstrap_servers, "labkit-keyed-writer")
    written = 0
    try:
        for record in records:
            producer.send(topic, record.value, record.key, record.partition)
            written += 1
        producer.confirm(timeout)
    finally:
        producer.close()
    return written


def partition_layout(counts: Mapping[int, int], partitions: int) -> dict[str, int]:
    """How `counts` (partition → records) fills `partitions` partitions: how many hold none, exactly one, and two
    or more, and the most any one holds."""
    filled = [counts.get(p, 0) for p in range(partitions)]
    return {
        "empty": sum(1 for n in filled if n == 0),
        "exactly one": sum(1 for n in filled if n == 1),
        "two or more": sum(1 for n in filled if n >= 2),
        "most in one": max(filled, default=0),
    }


def numbered_by_key(keys: Sequence[str], per_key: int) -> list[KeyedRecord]:
    """`per_key` records for each key, the keys taking turns; each value says `key:sequence:send order`."""
    records: list[KeyedRecord] = []
    for sequence in range(per_key):
        for key in keys:
            records.append(KeyedRecord(key, f"{key}:{sequence}:{len(records)}".encode()))
    return records


def order_report(records: Sequence[LogRecord]) -> pd.DataFrame:
    """For records of `numbered_by_key` in the order a consumer read them: per key its partition, how many were
    read, and whether their sequences came in the order they were sent; a last row, "all keys", says whether the
    send order held across keys. "steps back": how many times a record was read right after one sent later."""
    by_key: dict[str, list[tuple[int, int]]] = {}
    sent_order = []
    for record in records:
        key, sequence, sent = record.value.decode().split(":")
        by_key.setdefault(key, []).append((record.partition, int(sequence)))
        sent_order.append(int(sent))
    rows = []
    for key, seen in sorted(by_key.items()):
        sequences = [s for _, s in seen]
        rows.append(
            {
                "key": key,
                "partitions": sorted({p for p, _ in seen}),
                "read": len(seen),
                "in send order": sequences == sorted(sequences),
                "steps back": _inversions(sequences),
            }
        )
    rows.append(
        {
            "key": "all keys",
            "partitions": sorted({r.partition for r in records}),
            "read": len(records),
            "in send order": sent_order == sorted(sent_order),
            "steps back": _inversions(sent_order),
        }
    )
    return pd.DataFrame(rows).set_index("key")


def _inversions(sequence: Sequence[int]) -> int:
    """How many items come right after a larger one (each place where the order steps back)."""
    return sum(1 for before, after in pairwise(sequence) if after < before)
