"""What notebook 13 looks at in records written under a schema registry: the five bytes the serializers put before
the payload, what a codec costs per message, and the subjects a notebook registered (deleted at its end)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from labkit.errors import ConfigError

MAGIC_BYTE = 0  # the first byte of every record a Confluent-style serializer writes
HEADER_BYTES = 5  # the magic byte and a 4-byte schema id


@dataclass(frozen=True)
class WireFormat:
    """One record value as the registry's serializers frame it."""

    magic: int
    schema_id: int  # big-endian, the id the registry gave the writer's schema
    payload: bytes  # the Avro binary encoding: values only, no field names

    @property
    def framed(self) -> bool:
        return self.magic == MAGIC_BYTE


def wire_format(value: bytes | None) -> WireFormat:
    """Split a record value into magic byte, schema id and payload; ConfigError for a value too short to be framed."""
    if value is None or len(value) < HEADER_BYTES:
        raise ConfigError(f"a framed value has at least {HEADER_BYTES} bytes, got {value!r}")
    return WireFormat(value[0], int.from_bytes(value[1:HEADER_BYTES], "big"), bytes(value[HEADER_BYTES:]))


@dataclass(frozen=True)
class CodecCost:
    """A codec's cost per message, measured on the same messages: mean µs to encode and to decode, mean bytes."""

    codec: str
    encode_us: float
    decode_us: float
    bytes: float


def codec_cost(
    codec: str, encode: Callable[[Any], bytes], decode: Callable[[bytes], Any], messages: Sequence[Any]
) -> CodecCost:
    """Encode every message, then decode every value, timing each pass; checks that the round trip gives the
    messages back (a fast codec that loses data is no baseline)."""
    if not messages:
        raise ConfigError("codec_cost needs at least one message")
    started = time.perf_counter()
    values = [encode(m) for m in messages]
    encoded = time.perf_counter()
    decoded = [decode(v) for v in values]
    done = time.perf_counter()
    if decoded != list(messages):
        wrong = next(i for i, (d, m) in enumerate(zip(decoded, messages, strict=True)) if d != m)
        raise AssertionError(f"{codec}: message {wrong} came back as {decoded[wrong]!r}, not {messages[wrong]!r}")
    count = len(messages)
    return CodecCost(
        codec,
        (encoded - started) / count * 1e6,
        (done - encoded) / count * 1e6,
        sum(len(v) for v in values) / count,
    )


def delete_subjects(client: SchemaRegistryClient, subjects: Iterable[str]) -> list[str]:
    """Delete these subjects for good (a soft delete, then the permanent one); returns those that existed."""
    deleted = []
    for subject in subjects:
        with contextlib.suppress(SchemaRegistryError):  # not there (any more)
            client.delete_subject(subject)
            deleted.append(subject)
        with contextlib.suppress(SchemaRegistryError):
            client.delete_subject(subject, permanent=True)
    return deleted
