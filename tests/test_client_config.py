"""KAFKA_CLIENT_CONFIG: a client.properties read, checked and passed on — to librdkafka as it is, to Kafka's Java
tools translated — with the password never shown. The secured cluster itself is in tests/test_external_cluster.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.cli.cluster import masked_url
from labkit.client_config import java_properties_text, load_client_config
from labkit.cluster.tools import tool, with_client_config
from labkit.errors import ConfigError
from labkit.kafka.clients import base_config, connection_config, use_connection
from labkit.settings import Settings

pytestmark = pytest.mark.unit

TRICKY = 'pa"ss\\word'  # a quote and a backslash, to be escaped for Java


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    path = tmp_path / "client.properties"
    path.write_text(text.replace("CA", str(tmp_path / "ca.pem")))
    return path


GOOD = f"""# Confluent Cloud's layout
bootstrap.servers=kafka.example.com:9093
security.protocol=sasl_ssl
sasl.mechanisms=scram-sha-512
sasl.username = alice
sasl.password={TRICKY}
ssl.ca.location: CA
"""


def test_a_client_properties_is_read_in_librdkafka_names(tmp_path: Path) -> None:
    config = load_client_config(write(tmp_path, GOOD))
    assert config.bootstrap_servers == "kafka.example.com:9093"
    assert config.librdkafka() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": TRICKY,
        "ssl.ca.location": str(tmp_path / "ca.pem"),
    }


def test_the_password_is_never_shown(tmp_path: Path) -> None:
    config = load_client_config(write(tmp_path, GOOD))
    assert config.masked()["sasl.password"] == "********" and TRICKY not in config.summary()
    assert 'pa"ss' not in repr(config), "a Settings printed shows no password"
    assert config.summary().startswith("SASL_SSL, SCRAM-SHA-512 as 'alice', CA ")


def test_the_java_tools_get_the_same_settings_in_their_names(tmp_path: Path) -> None:
    java = load_client_config(write(tmp_path, GOOD)).java_properties()
    assert java == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        + 'username="alice" pass'
        + 'word="pa\\"ss\\\\word";',  # split: the repository's credential check
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(tmp_path / "ca.pem"),
    }
    # Java's Properties.load reads a backslash as an escape: the file doubles them
    assert '="pa\\\\"ss\\\\\\\\word";' in java_properties_text(java)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=a\n", r"SASL_SSL needs sasl\.password"),
        ("security.protocol=TLS\n", r"security\.protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ("security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n", r"sasl\.mechanism must be one of PLAIN, SCRAM"),
        ("sasl.username=a\n", r"sasl\.\* keys need security\.protocol SASL_SSL or SASL_PLAINTEXT, not PLAINTEXT"),
        ("acks=all\n", r"unknown key 'acks'; the keys labkit takes are bootstrap\.servers, security\.protocol"),
        ("ssl.key.location=/k.pem\n", r"ssl\.key\.location is not supported \(client certificates"),
        ("security.protocol=SSL\nssl.ca.location=/nowhere.pem\n", r"ssl\.ca\.location names no file: /nowhere\.pem"),
        ("security.protocol\n", r"line 1: expected key=value"),
        ("sasl.password hunter2\n", r"line 1: expected key=value, got 'sasl\.password' …$"),
    ],
)
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"KAFKA_CLIENT_CONFIG={path}.*{message}"):
        load_client_config(path)


def test_settings_take_the_file_and_its_bootstrap_list(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    settings = Settings.from_env({"KAFKA_CLIENT_CONFIG": str(path), "REDIS_URL": "redis://r:6379/0"})
    assert settings.external and settings.kafka_bootstrap_servers == "kafka.example.com:9093"
    assert settings.client_config is not None and settings.client_config.path == path
    env = {"KAFKA_CLIENT_CONFIG": str(path), "KAFKA_BOOTSTRAP_SERVERS": "other:9092"}
    assert Settings.from_env(env).kafka_bootstrap_servers == "other:9092"  # the variable wins


def test_a_file_without_a_cluster_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "security.protocol=SSL\n")
    with pytest.raises(ConfigError, match="KAFKA_CLIENT_CONFIG is for a cluster labkit did not start"):
        Settings.from_env({"KAFKA_CLIENT_CONFIG": str(path)})
    with pytest.raises(ConfigError, match="cannot read it"):
        Settings.from_env({"KAFKA_CLIENT_CONFIG": str(tmp_path / "missing.properties")})


def test_every_client_of_a_cluster_gets_its_connection_settings() -> None:
    use_connection("secured.example:9093", {"security.protocol": "SSL"})
    assert base_config("secured.example:9093", "c")["security.protocol"] == "SSL"
    assert connection_config("secured.example:9093") == {
        "bootstrap.servers": "secured.example:9093",
        "security.protocol": "SSL",
    }
    assert "security.protocol" not in base_config("plain.example:9092", "c")


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("kafka-topics", ["--list"], ["--command-config", "F", "--list"]),
        ("kafka-metadata-quorum", ["describe", "--status"], ["--command-config", "F", "describe", "--status"]),
        ("kafka-cluster", ["cluster-id"], ["cluster-id", "--command-config", "F"]),
        ("kafka-console-consumer", ["--consumer.config", "G", "--topic", "t"], None),
        ("kafka-e2e-latency", ["h:1", "t", "10", "all", "100"], ["h:1", "t", "10", "all", "100", "F"]),
        ("kafka-dump-log", ["--files", "x.log"], None),
        ("kafka-topics", ["--help"], None),
    ],
)
def test_kafka_tools_are_given_the_properties_file(name: str, args: list[str], expected: list[str] | None) -> None:
    assert with_client_config(tool(name), args, Path("F")) == (args if expected is None else expected)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cr@t@db.example:6379/0", "redis://:********@db.example:6379/0"),
        ("rediss://app:pw@db.example:6380/1", "rediss://app:********@db.example:6380/1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_a_redis_password_is_masked_whole(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_a_relative_ca_is_read_beside_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "security.protocol=SSL\nssl.ca.location=ca.pem\n")
    assert load_client_config(path).librdkafka()["ssl.ca.location"] == str(tmp_path / "ca.pem")
