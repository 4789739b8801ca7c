"""KAFKA_CLIENT_CONFIG: how to reach a cluster labkit did not start — TLS and SASL — from a `client.properties`
file, the way Kafka users keep one for the CLI tools' `--command-config`.

    # client.properties (bootstrap.servers is optional: KAFKA_BOOTSTRAP_SERVERS wins)
    bootstrap.servers=kafka-1.example.com:9093
    security.protocol=SASL_SSL
    sasl.mechanism=SCRAM-SHA-512
    sasl.username=alice
    sasl.password=…
    ssl.ca.location=/etc/kafka/ca.pem

The keys are librdkafka's (confluent-kafka's); every client labkit builds gets them, and Kafka's own tools get
the same settings in Java's names (`java_properties`). The file is checked when it is read: an unknown key or a
bad value is a ConfigError naming the key; the password is never printed (`masked`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import ConfigError

ENV_VAR = "KAFKA_CLIENT_CONFIG"
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
IDENTIFICATION = ("https", "none")
SECRETS = ("sasl.password",)
KEYS = (
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "sasl.username",
    "sasl.password",
    "ssl.ca.location",
    "ssl.endpoint.identification.algorithm",
)
ALIASES = {"sasl.mechanisms": "sasl.mechanism"}  # librdkafka's older name, in Confluent Cloud's client.properties
NOT_SUPPORTED = {
    "ssl.certificate.location": "client certificates (mutual TLS)",
    "ssl.key.location": "client certificates (mutual TLS)",
    "ssl.key.password": "client certificates (mutual TLS)",
    "sasl.jaas.config": "a JAAS line (Java's form): give sasl.username and sasl.password instead",
    "ssl.truststore.location": "a Java truststore: give the CA as a PEM file in ssl.ca.location instead",
}
_JAAS_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


@dataclass(frozen=True)
class ClientConfig:
    """A checked client.properties: `properties` in librdkafka's names (bootstrap.servers apart)."""

    path: Path
    properties: tuple[tuple[str, str], ...]  # holds the password: __repr__ shows masked() instead
    bootstrap_servers: str | None = None

    def __repr__(self) -> str:
        return f"ClientConfig(path={self.path!r}, properties={self.masked()!r})"

    def librdkafka(self) -> dict[str, str]:
        """What every confluent-kafka client of this cluster is given, beside bootstrap.servers."""
        return dict(self.properties)

    def masked(self) -> dict[str, str]:
        """The properties with the password replaced: for status lines and error messages."""
        return {key: "********" if key in SECRETS else value for key, value in self.properties}

    def summary(self) -> str:
        """One line: the protocol, the mechanism and user, the CA file; never the password."""
        p = self.librdkafka()
        parts = [p.get("security.protocol", "PLAINTEXT")]
        if "sasl.mechanism" in p:
            parts.append(f"{p['sasl.mechanism']} as {p.get('sasl.username', '?')!r}")
        if "ssl.ca.location" in p:
            parts.append(f"CA {p['ssl.ca.location']}")
        return f"{', '.join(parts)} (from {ENV_VAR}={self.path})"

    def java_properties(self) -> dict[str, str]:
        """The same settings for Kafka's Java tools (their --command-config file)."""
        p = self.librdkafka()
        java = {"security.protocol": p.get("security.protocol", "PLAINTEXT")}
        if "sasl.mechanism" in p:
            mechanism = p["sasl.mechanism"]
            java["sasl.mechanism"] = mechanism
            options = " ".join(_jaas_option(key, p.get(f"sasl.{key}", "")) for key in ("username", "password"))
            java["sasl.jaas.config"] = f"{_JAAS_MODULES[mechanism]} required {options};"
        if "ssl.ca.location" in p:
            java["ssl.truststore.type"] = "PEM"
            java["ssl.truststore.location"] = p["ssl.ca.location"]
        if p.get("ssl.endpoint.identification.algorithm") == "none":
            java["ssl.endpoint.identification.algorithm"] = ""
        return java


def java_properties_text(properties: Mapping[str, str]) -> str:
    """A Java .properties file's text (backslashes escaped, so Java reads back what was written)."""
    return "".join(f"{key}={value.replace(chr(92), chr(92) * 2)}\n" for key, value in properties.items())


def load_client_config(path: Path) -> ClientConfig:
    """Read and check a client.properties; ConfigError naming the file, the line and the key otherwise."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{ENV_VAR}={path}: cannot read it ({error.strerror or error})") from None
    raw: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#!":
            continue
        key, sep, value = _split(stripped)
        if not sep:
            shown = stripped.split()[0][:40]  # the key only: the rest may be a secret
            raise ConfigError(f"{ENV_VAR}={path}, line {number}: expected key=value, got {shown!r} …")
        raw[ALIASES.get(key, key)] = value
    return _checked(path, raw)


def _split(line: str) -> tuple[str, bool, str]:
    at = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
    return (line[:at].strip(), True, line[at + 1 :].strip()) if at > 0 else (line, False, "")


def _checked(path: Path, raw: dict[str, str]) -> ClientConfig:
    where = f"{ENV_VAR}={path}"
    for key in raw:
        if key in NOT_SUPPORTED:
            raise ConfigError(f"{where}: {key} is not supported ({NOT_SUPPORTED[key]})")
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; the keys labkit takes are {', '.join(KEYS)}")
    protocol = raw.get("security.protocol", "PLAINTEXT").upper()
    _one_of(where, "security.protocol", protocol, PROTOCOLS)
    if "sasl.mechanism" in raw:
        raw["sasl.mechanism"] = raw["sasl.mechanism"].upper()
        _one_of(where, "sasl.mechanism", raw["sasl.mechanism"], MECHANISMS)
    if protocol.startswith("SASL_"):
        for key in ("sasl.mechanism", "sasl.username", "sasl.password"):
            if not raw.get(key):
                raise ConfigError(f"{where}: security.protocol={protocol} needs {key}")
    elif any(k.startswith("sasl.") for k in raw):
        raise ConfigError(f"{where}: sasl.* keys need security.protocol SASL_SSL or SASL_PLAINTEXT, not {protocol}")
    if "ssl.endpoint.identification.algorithm" in raw:
        _one_of(
            where, "ssl.endpoint.identification.algorithm", raw["ssl.endpoint.identification.algorithm"], IDENTIFICATION
        )
    if "ssl.ca.location" in raw:
        ca = path.parent / Path(raw["ssl.ca.location"]).expanduser()  # absolute stays; relative: beside the file
        if not ca.is_file():
            raise ConfigError(f"{where}: ssl.ca.location names no file: {ca}")
        raw["ssl.ca.location"] = str(ca)
    bootstrap = raw.pop("bootstrap.servers", None)
    properties = {**raw, "security.protocol": protocol}
    return ClientConfig(path=path, properties=tuple(sorted(properties.items())), bootstrap_servers=bootstrap or None)


def _one_of(where: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(allowed)}, got {value!r}")


def _jaas_option(name: str, value: str) -> str:
    """name="value" in a JAAS line, quotes and backslashes escaped."""
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{quoted}"'


def client_config_from_env(environ: Mapping[str, str] | None = None) -> ClientConfig | None:
    """The file KAFKA_CLIENT_CONFIG names, checked; None when the variable is unset."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    return load_client_config(Path(value).expanduser().resolve()) if value else None
