"""The schema registry (Apicurio, `labkit registry`): started from its own home and port, it keeps a subject's
compatibility rule (a compatible version registered, an incompatible one refused with 409), and records written
under the old and the new schema are read by consumers of either."""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from labkit.cluster.processes import port_is_free
from labkit.cluster.registry import CCOMPAT_PATH, RegistryState, SchemaRegistryServer
from labkit.errors import ClusterError
from labkit.exercises import schemas
from labkit.exercises.scratch import scratch_name, scratch_topic
from labkit.experiments.reading import read_topic
from labkit.lab import Lab
from tests.helpers import fake_java_home

TEST_REGISTRY_PORT = int(os.environ.get("LABKIT_TEST_REGISTRY_PORT", "18081"))
V1 = {
    "type": "record",
    "name": "ReserveSeats",
    "namespace": "labkit.test",
    "fields": [{"name": "booking_id", "type": "string"}, {"name": "quantity", "type": "int"}],
}
V2 = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string", "default": "web"}]}  # a default: BACKWARD
NO_DEFAULT = {**V1, "fields": [*V1["fields"], {"name": "price_cents", "type": "int"}]}  # old records lack it


@pytest.fixture(scope="module")
def registry_home(cluster_home: Path) -> Path:
    return cluster_home.parent / "registry"


@pytest.fixture(scope="module")
def registry(registry_home: Path) -> Iterator[RegistryState]:
    server = SchemaRegistryServer(registry_home)
    state, started = server.up(TEST_REGISTRY_PORT)
    assert started, f"a schema registry already ran from {server.home}"
    yield state
    assert server.down()
    assert port_is_free(state.port) and port_is_free(state.management_port)
    assert server.status() is None


@pytest.mark.integration
def test_the_registry_answers_and_a_second_up_starts_nothing(registry: RegistryState, registry_home: Path) -> None:
    assert registry.url == f"http://127.0.0.1:{TEST_REGISTRY_PORT}{CCOMPAT_PATH}"
    again, started = SchemaRegistryServer(registry_home).up(TEST_REGISTRY_PORT)
    assert not started and again == registry
    assert SchemaRegistryClient({"url": registry.url}).get_subjects() is not None


@pytest.mark.integration
def test_compatible_versions_register_and_an_incompatible_one_is_refused_with_409(registry: RegistryState) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    subject = f"test-{uuid.uuid4().hex[:8]}-value"
    first = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    client.set_compatibility(subject, "BACKWARD")
    assert client.test_compatibility(subject, Schema(json.dumps(V2), "AVRO"))
    assert not client.test_compatibility(subject, Schema(json.dumps(NO_DEFAULT), "AVRO"))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(NO_DEFAULT), "AVRO"))
    assert refused.value.http_status_code == 409 and "price_cents" in refused.value.error_message
    second = client.register_schema(subject, Schema(json.dumps(V2), "AVRO"))
    assert second != first and client.get_versions(subject) == [1, 2]  # the refused one left no version


@pytest.mark.integration
def test_old_and_new_readers_read_records_written_under_either_schema(
    registry: RegistryState, lab: Lab, event_id: int
) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    topic, _ = scratch_name(event_id, "registry")
    with scratch_topic(lab, topic, partitions=1):
        naming = {"subject.name.strategy": topic_subject_name_strategy}  # `<topic>-value`, as Confluent's default
        context = SerializationContext(topic, MessageField.VALUE)
        client.register_schema(f"{topic}-value", Schema(json.dumps(V1), "AVRO"))
        client.set_compatibility(f"{topic}-value", "BACKWARD")
        producer = Producer({**lab.kafka_config, "acks": "all"})
        for schema, value in ((V1, {"booking_id": "b-1", "quantity": 2}), (V2, {**_b2(), "channel": "app"})):
            serialize = AvroSerializer(client, json.dumps(schema), conf=naming)  # registers V2 under the rule
            producer.produce(topic, value=serialize(value, context))
        assert producer.flush(30) == 0
        raw = [r.value for r in read_topic(lab.bootstrap_servers, topic)]
        ids = [int.from_bytes(v[1:5], "big") for v in raw]
        assert [v[0] for v in raw] == [0, 0] and ids[0] != ids[1]  # magic byte 0, then each schema's id
        old, new = (AvroDeserializer(client, json.dumps(s), conf=naming) for s in (V1, V2))
        assert [old(v, context) for v in raw] == [{"booking_id": "b-1", "quantity": 2}, _b2()]  # channel dropped
        assert [new(v, context) for v in raw] == [
            {"booking_id": "b-1", "quantity": 2, "channel": "web"},
            {
                **_b2(),
                "channel": "app",
            },
        ]  # the default fills what old records lack


def _b2() -> dict[str, object]:
    return {"booking_id": "b-2", "quantity": 3}


@pytest.mark.unit
def test_the_registry_listens_on_loopback_only_and_carries_its_home(tmp_path: Path) -> None:
    server = SchemaRegistryServer(tmp_path / "home")
    command = server._command(Path("/jdk/bin/java"), Path("/app"), RegistryState(0, 18081, 18082, "3.3.3"))
    assert server.marker in command and "-jar" in command
    assert "-Dquarkus.http.host=127.0.0.1" in command and "-Dquarkus.management.host=127.0.0.1" in command
    assert "-Dquarkus.http.port=18081" in command and "-Dquarkus.management.port=18082" in command


@pytest.mark.unit
def test_java_older_than_21_is_refused_for_the_registry(tmp_path: Path) -> None:
    fake_java_home(tmp_path, "17.0.15")
    with pytest.raises(ClusterError, match=r"Apicurio Registry needs Java 21 or newer; .* is Java 17"):
        SchemaRegistryServer(tmp_path / "home", java_home=tmp_path).up(18081)


@pytest.mark.unit
def test_status_forgets_a_registry_that_is_gone(tmp_path: Path) -> None:
    server = SchemaRegistryServer(tmp_path)
    server.state_file.write_text(json.dumps({"pid": 2**22 + 1, "port": 1, "management_port": 2, "version": "x"}))
    assert server.status() is None and not server.state_file.exists()
    assert not server.down()


# -- 13's exercise: a schema evolved under FULL, both ways -----------------------------------------------------
def add_channel_without_default(config: dict[str, Any], registry_url: str, topic: str, bookings: list[Any]) -> None:
    registry = SchemaRegistryClient({"url": registry_url})
    v1 = json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str or "{}")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "channel", "type": "string"}]}
    serialize = AvroSerializer(registry, json.dumps(v2), conf={"subject.name.strategy": topic_subject_name_strategy})
    producer = Producer(config)
    for booking in bookings:
        producer.produce(topic, value=serialize(booking, SerializationContext(topic, MessageField.VALUE)))
    producer.flush(30)


def send_as_json(config: dict[str, Any], registry_url: str, topic: str, bookings: list[Any]) -> None:
    producer = Producer(config)
    for booking in bookings:
        producer.produce(topic, value=json.dumps(booking))
    producer.flush(30)


def send_unregistered(config: dict[str, Any], registry_url: str, topic: str, bookings: list[Any]) -> None:
    registry = SchemaRegistryClient({"url": registry_url})
    v1 = json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str or "{}")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "channel", "type": "string", "default": "web"}]}
    conf = {"subject.name.strategy": topic_subject_name_strategy, "auto.register.schemas": False}
    serialize = AvroSerializer(registry, json.dumps(v2), conf=conf)
    producer = Producer(config)
    for booking in bookings:
        producer.produce(topic, value=serialize(booking, SerializationContext(topic, MessageField.VALUE)))
    producer.flush(30)


def send_without_flush(config: dict[str, Any], registry_url: str, topic: str, bookings: list[Any]) -> None:
    registry = SchemaRegistryClient({"url": registry_url})
    v1 = json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str or "{}")
    v2 = {**v1, "fields": [*v1["fields"], {"name": "channel", "type": "string", "default": "web"}]}
    serialize = AvroSerializer(registry, json.dumps(v2), conf={"subject.name.strategy": topic_subject_name_strategy})
    producer = Producer({**config, "linger.ms": 1000})  # a second's batching: nothing is sent before it returns
    for booking in bookings:
        producer.produce(topic, value=serialize(booking, SerializationContext(topic, MessageField.VALUE)))


@pytest.mark.integration
def test_the_schema_exercise_reads_the_answer_with_old_and_new_consumers(
    registry: RegistryState, lab: Lab, event_id: int
) -> None:
    check = functools.partial(schemas.evolved_producer.evaluate, lab=lab, registry_url=registry.url, event_id=event_id)
    solved = check(schemas.evolved_producer.reference)
    assert solved.solved, solved.message
    assert "the old consumer read all 15 records" in solved.message and "with your default 'web'" in solved.message
    assert "without its default was refused (409)" in solved.message
    no_default = check(add_channel_without_default)
    assert not no_default.solved and "refused your schema (409)" in no_default.message
    assert "needs a default" in no_default.message
    unregistered = check(send_unregistered)
    assert not unregistered.solved and "looked up a schema nobody registered (404" in unregistered.message
    as_json = check(send_as_json)
    assert not as_json.solved and "not in the registry's wire format" in as_json.message
    unflushed = check(send_without_flush)
    assert not unflushed.solved and "0 of your 12 records reached the topic" in unflushed.message
    subjects = SchemaRegistryClient({"url": registry.url}).get_subjects()
    assert not [s for s in subjects if f"event-id-{event_id}_" in s], "every check deletes its subject"
