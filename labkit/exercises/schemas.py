"""Notebook 13's code exercise: a producer that evolves a schema under FULL compatibility and writes with it.

The check registers version 1 of a booking schema for a fresh topic's subject under FULL compatibility and writes
a few records with it; the learner's `send_with_channel(config, registry_url, topic, bookings)` registers a
version that adds `channel` and writes the bookings with it. The check then reads the topic with an old consumer
(version 1's schema) and a new one (the learner's): each must read every record, the old one without `channel`,
the new one with the default where the record is older than the field. It also shows the same change without a
default being refused by the registry (409).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from labkit.errors import ConfigError, LabkitError
from labkit.exercises.kit import Exercise, Verdict, correct, wrong
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.reading import read_topic
from labkit.experiments.schemas import delete_subjects, wire_format

if TYPE_CHECKING:
    from labkit.lab import Lab

V1: dict[str, Any] = {
    "type": "record",
    "name": "BookingRequest",
    "namespace": "labkit.exercise",
    "fields": [
        {"name": "booking_id", "type": "string"},
        {"name": "section", "type": "string"},
        {"name": "subsection", "type": "int"},
        {"name": "quantity", "type": "int"},
    ],
}
OLD_RECORDS, NEW_RECORDS = 3, 12
CHANNELS = ("web", "app", "box-office")
NAMING = {"subject.name.strategy": topic_subject_name_strategy}  # `<topic>-value`


def _bookings(seed: int, count: int, first: int = 0) -> list[dict[str, Any]]:
    chooser = random.Random(seed)
    return [
        {"booking_id": f"b-{first + i:03d}", "section": chooser.choice("ABCD"), "subsection": chooser.randint(1, 4)}
        | {"quantity": chooser.randint(1, 4)}
        for i in range(count)
    ]


def _judge(answer: object, lab: Lab, registry_url: str, event_id: int) -> Verdict:
    if not callable(answer):
        return wrong(
            f"answer with your function send_with_channel(config, registry_url, topic, bookings), got {answer!r}"
        )
    client = SchemaRegistryClient({"url": registry_url, "timeout": 30})
    topic, _ = scratch_name(event_id, "schema")
    subject = f"{topic}-value"
    chooser = random.Random(event_id)
    old = _bookings(event_id, OLD_RECORDS)
    new = [b | {"channel": chooser.choice(CHANNELS)} for b in _bookings(event_id + 1, NEW_RECORDS, OLD_RECORDS)]
    try:
        with scratch_topic(lab, topic, partitions=1):
            v1_id = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
            client.set_compatibility(subject, "FULL")
            _write(lab.kafka_config, client, topic, V1, old)
            try:
                answer({**lab.kafka_config}, registry_url, topic, copy.deepcopy(new))
            except SchemaRegistryError as error:
                return _refused(error)
            except Exception as error:  # the learner's code: any error is a verdict, not a crash
                return wrong(f"your function raised {type(error).__name__}: {error}")
            values = [r.value for r in read_topic(lab.bootstrap_servers, topic)]
            return _verdict(client, subject, v1_id, old, new, values)
    finally:
        delete_subjects(client, [subject])


def _write(config: dict[str, str], client: SchemaRegistryClient, topic: str, schema: Any, rows: list[Any]) -> None:
    serialize = AvroSerializer(client, json.dumps(schema), conf=NAMING)
    producer = Producer(config)
    for row in rows:
        producer.produce(
            topic, key=row["booking_id"], value=serialize(row, SerializationContext(topic, MessageField.VALUE))
        )
    if producer.flush(30):
        raise LabkitError(f"the check could not write its {len(rows)} version-1 records to {topic}")


def _refused(error: SchemaRegistryError) -> Verdict:
    if error.http_status_code == 404:
        return wrong(
            f"your serializer looked up a schema nobody registered (404: {error.error_message}): leave "
            "auto.register.schemas at its default (True), or register_schema() your version first"
        )
    if error.http_status_code != 409:
        return wrong(f"the registry answered {error.http_status_code}: {error.error_message}")
    return wrong(
        f"the registry refused your schema (409): {error.error_message}",
        "under FULL, consumers of version 1 read your records and consumers of your version read version 1's: a "
        "field that old records lack needs a default, which a new reader fills in; and the record's name and its "
        "other fields must stay as version 1 has them (read it from the registry rather than retyping it)",
    )


def _verdict(
    client: SchemaRegistryClient,
    subject: str,
    v1_id: int,
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    values: Sequence[bytes | None],
) -> Verdict:
    written = values[len(old) :]
    if len(written) < len(new):
        return wrong(
            f"{len(written)} of your {len(new)} records reached the topic: produce() only queues, flush() sends "
            "and waits for the brokers"
        )
    for offset, value in enumerate(written, start=len(old)):
        if not _framed(value):
            return wrong(
                f"the record at offset {offset} is not in the registry's wire format (it starts with "
                f"{bytes(value or b'')[:8]!r}, not the magic byte 0 and a schema id): serialize each booking "
                "with an AvroSerializer and produce its bytes"
            )
        if wire_format(value).schema_id == v1_id:  # framed: checked just above
            return wrong(f"the record at offset {offset} was written with version 1: serialize with your new schema")
    latest = client.get_latest_version(subject)
    if (latest.version or 0) < 2:
        return wrong(f"the subject {subject} still has only version 1: your serializer registers yours on first use")
    return _readers_verdict(client, subject, latest.schema.schema_str or "", old, new, values)


def _framed(value: bytes | None) -> bool:
    try:
        return wire_format(value).framed
    except ConfigError:  # shorter than the header
        return False


def _readers_verdict(
    client: SchemaRegistryClient,
    subject: str,
    schema_str: str,
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    values: Sequence[bytes | None],
) -> Verdict:
    context = SerializationContext(subject.removesuffix("-value"), MessageField.VALUE)
    old_reader = AvroDeserializer(client, json.dumps(V1), conf=NAMING)
    new_reader = AvroDeserializer(client, schema_str, conf=NAMING)
    read_old = [old_reader(v, context) for v in values]
    read_new = [new_reader(v, context) for v in values]
    without_channel = [{k: v for k, v in b.items() if k != "channel"} for b in old + new]
    differ = [(sent, read) for sent, read in zip(without_channel, read_old, strict=True) if sent != read]
    if differ:
        sent, read = differ[0]
        fields = sorted(k for k in sent if sent.get(k) != read.get(k))
        return wrong(
            f"the old consumer (version 1's schema) read {len(differ)} record(s) other than sent: "
            f"{sent['booking_id']}'s {', '.join(fields)} sent as {[sent[k] for k in fields]}, read as "
            f"{[read.get(k) for k in fields]}"
        )
    channels = [r.get("channel") for r in read_new]
    if channels[len(old) :] != [b["channel"] for b in new]:
        return wrong(
            f"the new consumer read the channels {channels[len(old) :]}, you were given "
            f"{[b['channel'] for b in new]}: write each booking's own channel"
        )
    default = channels[0]
    return correct(
        f"version {client.get_latest_version(subject).version} adds channel: the old consumer read all "
        f"{len(values)} records without it, the new one read the {len(old)} older records with your default "
        f"{default!r}. {_without_default_refused(client, subject, schema_str)}"
    )


def _without_default_refused(client: SchemaRegistryClient, subject: str, schema_str: str) -> str:
    """The learner's change with its default removed, as the registry judges it against version 1 alone (on a
    subject of its own: against the learner's version 2, which has `channel`, FULL would accept it)."""
    schema = json.loads(schema_str)
    for field in schema["fields"]:
        if field["name"] == "channel":
            field.pop("default", None)
    scratch = f"{subject}-without-default"
    try:
        client.register_schema(scratch, Schema(json.dumps(V1), "AVRO"))
        client.set_compatibility(scratch, "FULL")
        client.register_schema(scratch, Schema(json.dumps(schema), "AVRO"))
    except SchemaRegistryError as error:
        return f"The same change without its default was refused ({error.http_status_code}): {error.error_message}"
    finally:
        delete_subjects(client, [scratch])
    return "The same change without its default was accepted: is the registry's FULL rule what it should be?"


def _reference(config: dict[str, Any], registry_url: str, topic: str, bookings: list[dict[str, Any]]) -> None:
    registry = SchemaRegistryClient({"url": registry_url, "timeout": 30})
    v1 = json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str or "{}")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "channel", "type": "string", "default": "web"}]}
    serialize = AvroSerializer(  # registers v2 on first use; the registry checks it against the subject's rule
        registry, json.dumps(v2), conf={"subject.name.strategy": topic_subject_name_strategy}
    )
    producer = Producer(config)
    for booking in bookings:
        value = serialize(booking, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=booking["booking_id"], value=value)
    producer.flush(30)


evolved_producer = Exercise(
    key="13.evolved_producer",
    notebook="13_schemas_and_evolution",
    title="a new schema version that old and new consumers both read, written by your producer",
    statement=(
        "Write `send_with_channel(config, registry_url, topic, bookings)`. The subject `<topic>-value` holds "
        "version 1 of a booking schema (booking_id, section, subsection, quantity) under FULL compatibility, and "
        f"the topic holds {OLD_RECORDS} records written with it. Make version 2 by adding a string field "
        "`channel` to version 1 as the registry holds it (read it, rather than retyping it: the record's name must "
        "stay), serialize each booking (a dict that has a channel) with an AvroSerializer of your version 2, "
        "and produce it to `topic`. The check reads the topic with a consumer of version 1 and one of your "
        "version: both must read every record."
    ),
    hints=(
        "registry = SchemaRegistryClient({'url': registry_url, 'timeout': 30}); "
        "registry.get_latest_version(f'{topic}-value').schema.schema_str is version 1, as JSON text",
        "old records have no channel: under FULL the new field needs a default, which new readers fill in",
        "AvroSerializer(registry, json.dumps(v2), conf={'subject.name.strategy': topic_subject_name_strategy}); "
        "serialize(booking, SerializationContext(topic, MessageField.VALUE)) gives the bytes to produce; flush()",
    ),
    judge=_judge,
    reference=_reference,
    needs=("lab", "registry_url", "event_id"),
)

EXERCISES: tuple[Exercise, ...] = (evolved_producer,)
