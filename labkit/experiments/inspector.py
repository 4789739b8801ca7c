"""The control room's message inspector: read a few records of one partition from an offset or a time, and
show each one's key, headers, timestamp and value (decoded as labkit's messages where it is one), as Kafka UIs
(kafka-ui, Redpanda Console) do. A plain consumer, assigned, no group: reading commits nothing.
"""

from __future__ import annotations

import dataclasses
import html
import json
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from labkit.checks import is_int
from labkit.domain.messages import decode
from labkit.errors import ClusterError, ConfigError, MessageError
from labkit.experiments.reading import reader_config

MAX_RECORDS = 200


@dataclass(frozen=True)
class InspectedRecord:
    offset: int
    timestamp_ms: int
    key: str | None
    headers: list[tuple[str, str]]
    value: str  # a labkit message as JSON with its type, else the text, else the bytes' hex
    kind: str  # the message's type ("ReserveSeats"), "text", "bytes" or "tombstone"


def describe_value(data: bytes | None) -> tuple[str, str]:
    """(kind, shown value) of a record's value."""
    if data is None:
        return "tombstone", ""
    try:
        message = decode(data)
        return type(message).__name__, json.dumps(dataclasses.asdict(message), default=list)
    except MessageError:
        pass
    try:
        return "text", data.decode()
    except UnicodeDecodeError:
        return "bytes", data.hex(" ")


def inspect_partition(
    bootstrap_servers: str,
    topic: str,
    partition: int,
    offset: int | None = None,
    since_ms: int | None = None,
    limit: int = 20,
    timeout: float = 10.0,
) -> list[InspectedRecord]:
    """Up to `limit` records of `topic`[`partition`] from `offset` (default: the last `limit` ones) or from the
    first written at or after `since_ms` (epoch ms), up to the partition's end when the read began."""
    if not is_int(partition) or partition < 0:
        raise ConfigError(f"partition must be an integer ≥ 0, got {partition!r}")
    if not is_int(limit) or not 1 <= limit <= MAX_RECORDS:
        raise ConfigError(f"limit must be an integer from 1 to {MAX_RECORDS}, got {limit!r}")
    if offset is not None and since_ms is not None:
        raise ConfigError("give an offset or a time (since_ms), not both")
    consumer = Consumer(reader_config(bootstrap_servers, client_id="labkit-inspector"))
    try:
        start, end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout)
        if since_ms is not None:
            found = consumer.offsets_for_times([TopicPartition(topic, partition, since_ms)], timeout)[0].offset
            first = found if found >= 0 else end
        elif offset is not None:
            first = max(start, offset)
        else:
            first = max(start, end - limit)
        return _read(consumer, topic, partition, first, min(end, first + limit), timeout)
    except KafkaException as error:
        raise ClusterError(f"reading {topic}[{partition}] failed: {error.args[0]}") from error
    finally:
        consumer.close()


def _read(
    consumer: Consumer, topic: str, partition: int, first: int, stop: int, timeout: float
) -> list[InspectedRecord]:
    records: list[InspectedRecord] = []
    if first >= stop:
        return records
    consumer.assign([TopicPartition(topic, partition, first)])
    while len(records) < stop - first:
        batch = consumer.consume(stop - first - len(records), timeout=timeout)
        if not batch:
            break
        for message in batch:
            error = message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                raise ClusterError(f"reading {topic}[{partition}] failed: {error}")
            if error is None and (message.offset() or 0) < stop:
                kind, value = describe_value(message.value())
                key = message.key()
                raw = message.headers() or []
                pairs = list(raw.items()) if isinstance(raw, dict) else list(raw)  # a list here; the stubs allow both
                headers = [(name, _text(v)) for name, v in pairs]
                records.append(
                    InspectedRecord(
                        message.offset() or 0,
                        message.timestamp()[1],
                        key.decode(errors="replace") if key is not None else None,
                        headers,
                        value,
                        kind,
                    )
                )
    return records


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def inspector_html(topic: str, partition: int, records: list[InspectedRecord]) -> str:
    rows = "".join(
        f"<tr class='labkit-record'><td>{r.offset}</td><td>{r.timestamp_ms}</td><td>{html.escape(r.key or '∅')}</td>"
        f"<td>{html.escape(', '.join(f'{k}={v}' for k, v in r.headers) or '-')}</td><td>{html.escape(r.kind)}</td>"
        f"<td style='font-family:monospace;font-size:11px'>{html.escape(r.value[:400])}</td></tr>"
        for r in records
    )
    header = "".join(f"<th>{h}</th>" for h in ("offset", "timestamp (ms)", "key", "headers", "type", "value"))
    return (
        f"<div class='labkit-inspector-records'><b>{html.escape(topic)}[{partition}]</b>: {len(records)} record(s)"
        f"<table><tr>{header}</tr>{rows}</table></div>"
    )
