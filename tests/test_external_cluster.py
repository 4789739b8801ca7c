"""labkit on a cluster it did not start: the plain secured cluster of tests/plain_cluster.py (SASL_SSL with
SASL/PLAIN and a self-signed certificate, Kafka's default broker settings), reached through KAFKA_CLIENT_CONFIG
as a team's own cluster would be — the CLI, consumer processes, Kafka's tools and a Lab's clients."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from labkit import Lab, Settings
from labkit.client_config import load_client_config
from labkit.domain.naming import KafkaTopicBuilder
from labkit.errors import ConfigError
from labkit.experiments.scratch_topics import topic_config
from labkit.kafka.admin import Admin
from labkit.kafka.clients import use_connection
from tests.conftest import next_event_id
from tests.helpers import SMALL_VENUE, lab_for_a_test
from tests.plain_cluster import PlainCluster, make_certificate
from tests.test_cli import run

pytestmark = pytest.mark.integration


def test_status_describes_the_cluster_in_use(plain_env: dict[str, str]) -> None:
    result = run("cluster", "status", env=plain_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "a cluster labkit did not start, and will not stop" in out
    assert "connection: SASL_SSL, PLAIN as 'learner'" in out
    assert all(f"127.0.0.1:{port}" in out for port in (29092, 29093, 29094)), out
    assert "LeaderId:" in out, out  # the quorum, asked through the brokers with the tools' properties file
    assert "under-replicated partitions: 0, offline partitions: 0" in out
    # Kafka's default beside labkit's own cluster's value
    assert any(line.split()[:3] == ["log.retention.check.interval.ms", "300000", "5000"] for line in out.splitlines())
    assert read_password(plain_env) not in out + result.stderr


def test_cluster_env_names_the_file_not_its_secrets(plain_env: dict[str, str]) -> None:
    result = run("cluster", "env", env=plain_env)
    assert result.returncode == 0, result.stderr
    assert f"export KAFKA_CLIENT_CONFIG={plain_env['KAFKA_CLIENT_CONFIG']}" in result.stdout
    assert read_password(plain_env) not in result.stdout


def test_kafka_tools_connect_with_the_properties_file(plain_env: dict[str, str]) -> None:
    result = run("kafka", "kafka-topics", "--list", env=plain_env)
    assert result.returncode == 0, result.stderr
    result = run("kafka", "kafka-metadata-quorum", "describe", "--status", env=plain_env)
    assert result.returncode == 0 and "LeaderId:" in result.stdout, result.stderr


def test_a_wrong_password_is_one_line_naming_the_cause(plain_cluster: PlainCluster, plain_env: dict[str, str]) -> None:
    wrong = plain_cluster.client_properties_with("not-the-password")
    started = time.monotonic()
    result = run("events", "list", env={**plain_env, "KAFKA_CLIENT_CONFIG": str(wrong)})
    took = time.monotonic() - started
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "refused the connection" in lines[0] and "Invalid username or password" in lines[0], lines[0]
    assert "not-the-password" not in result.stderr + result.stdout
    assert took < 20, f"the refusal took {took:.1f} s"


def test_a_certificate_from_another_ca_is_refused_at_once(plain_env: dict[str, str], tmp_path: Path) -> None:
    _, stranger = make_certificate(tmp_path)
    text = Path(plain_env["KAFKA_CLIENT_CONFIG"]).read_text()
    wrong = tmp_path / "client.properties"
    wrong.write_text(re.sub(r"(?m)^ssl\.ca\.location=.*$", f"ssl.ca.location={stranger}", text))
    bootstrap = plain_env["KAFKA_BOOTSTRAP_SERVERS"] + ",127.0.0.1:29093"  # another list: not the registered one
    use_connection(bootstrap, load_client_config(wrong).librdkafka())
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"refused the connection: .*certificate verify failed"):
        assert Admin(bootstrap, connect_timeout=20).client is None  # the property connects (and raises)
    assert time.monotonic() - started < 10


def test_the_demo_runs_on_it(plain_env: dict[str, str]) -> None:
    event_id = next_event_id()
    result = run("demo", "--event-id", str(event_id), "--count", "100", "--consumers", "1", env=plain_env)
    deleted = run("events", "delete", str(event_id), env=plain_env)  # first: a failed demo leaves nothing either
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "bookings 100: reserved 100" in result.stdout, result.stdout[-2000:]
    assert read_password(plain_env) not in result.stdout + result.stderr
    assert deleted.returncode == 0, deleted.stderr


def test_a_lab_books_through_it_with_threads(plain_env: dict[str, str]) -> None:
    settings = Settings.from_env(plain_env)
    with lab_for_a_test(settings) as lab:
        assert lab.kafka_config["security.protocol"] == "SASL_SSL"
        event_id = lab.new_event(SMALL_VENUE)
        lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
        booking = lab.book(event_id=event_id, section="A", subsection=1, quantity=2)
        assert booking.wait(timeout=60).status == "RESERVED"
        assert_lab_topic_settings(lab, event_id)


def assert_lab_topic_settings(lab: Lab, event_id: int) -> None:
    """Kafka's default min.insync.replicas is 1: labkit's topics ask for 2 themselves."""
    topic = KafkaTopicBuilder.reserve_seats__ticketing_to_seat_reservation(event_id)
    assert topic_config(lab.bootstrap_servers, topic)["min.insync.replicas"] == "2"


def read_password(env: dict[str, str]) -> str:
    for line in Path(env["KAFKA_CLIENT_CONFIG"]).read_text().splitlines():
        if line.startswith("sasl.password="):
            return line.split("=", 1)[1]
    raise AssertionError("no password in the client.properties")


def test_classic_members_ask_for_the_clusters_minimum_session(plain_env: dict[str, str]) -> None:
    """Kafka's group.min.session.timeout.ms (6 s) is above labkit's 2.5 s: a JoinGroup asking for less is refused
    with INVALID_SESSION_TIMEOUT, so classic members ask for the cluster's minimum."""
    settings = Settings.from_env({**plain_env, "LABKIT_GROUP_PROTOCOL": "classic"})
    with lab_for_a_test(settings) as lab:
        assert lab.runtime.tuning.classic_session_timeout_ms == 6000
        event_id = lab.new_event(SMALL_VENUE)
        lab.start_consumers(ticketing=1, seat_reservation=1, event_id=event_id)
        assert lab.book(event_id=event_id, section="B", subsection=2, quantity=1).wait(timeout=60).status == "RESERVED"
