"""A Kafka cluster labkit did not start, for the tests that use labkit the way a team with its own cluster would.

Three KRaft nodes (broker + controller each) started the way an operator starts them: Kafka's own main class
(`kafka.Kafka`) with a config file, under the JVM options of Kafka's `kafka-server-start.sh`. The files set only
what a secured cluster must — listeners, TLS with a self-signed certificate made here, SASL/PLAIN users — and
Kafka's defaults stay for everything else (retention checked every 5 min, the cleaner's 15-s backoff, 45-s
consumer-group sessions, a 6-s minimum classic session, …). Clients reach it on SASL_SSL only; the controllers
talk on a PLAINTEXT listener of their own on 127.0.0.1. Its ports are its own (29092…, 29192…) and its data lives
in memory like the test cluster's, for the same reason (docs/cluster.md).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labkit.client_config import load_client_config
from labkit.cluster.jars import ensure_classpath
from labkit.cluster.java import find_java
from labkit.cluster.processes import kill_now, port_is_free
from labkit.kafka.clients import base_config, use_connection
from labkit.polling import poll
from labkit.settings import java_home_from_env

NODES = 3
KAFKA_PORT, CONTROLLER_PORT = 29092, 29192
USER = "learner"
# kafka-server-start.sh's heap, and kafka-run-class.sh's collector options
OPERATOR_JVM = (
    "-Xmx1G",
    "-Xms1G",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost: (the broker's PEM key store, the clients' CA file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labkit test broker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore, ca = folder / "broker.pem", folder / "ca.pem"
    keystore.write_bytes(key_pem + cert_pem)
    ca.write_bytes(cert_pem)
    return keystore, ca


@dataclass
class PlainCluster:
    """Start with `start()`, stop with `stop()`; `client_properties` is a client.properties for KAFKA_CLIENT_CONFIG."""

    folder: Path
    classpath_home: Path  # a labkit home whose Kafka jars to run (the test cluster's)
    password: str = ""
    processes: list[subprocess.Popen[bytes]] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{KAFKA_PORT + i}" for i in range(NODES))

    @property
    def client_properties(self) -> Path:
        return self.folder / "client.properties"

    def client_properties_with(self, password: str) -> Path:
        """A client.properties like the right one but with another password (the wrong-password test)."""
        path = self.folder / "wrong-password.properties"
        path.write_text(self.client_properties.read_text().replace(self.password, password))
        return path

    def data_dir(self, node: int) -> Path:
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else self.folder
        return base / f"labkit-plain-{os.getpid()}" / f"node-{node}"

    def start(self, timeout: float = 120.0) -> None:
        busy = [p for i in range(NODES) for p in (KAFKA_PORT + i, CONTROLLER_PORT + i) if not port_is_free(p)]
        if busy:
            raise RuntimeError(f"the plain cluster's ports are taken: {busy}")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.password = secrets.token_urlsafe(12)
        keystore, ca = make_certificate(self.folder)
        self.client_properties.write_text(
            "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
            f"sasl.username={USER}\nsasl.password={self.password}\nssl.ca.location={ca}\n"
        )
        java, classpath = find_java(java_home_from_env()), ensure_classpath(self.classpath_home)
        configs = [self._write_config(node, keystore, ca) for node in range(1, NODES + 1)]
        cluster_id = str(uuid.uuid4().hex[:22])
        for config in configs:
            storage = ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config)]
            subprocess.run([str(java), "-cp", classpath, *storage], check=True, capture_output=True, timeout=120)
        self.processes = []
        for node, config in enumerate(configs, start=1):
            log = (self.folder / f"node-{node}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [str(java), *OPERATOR_JVM, "-cp", classpath, "kafka.Kafka", str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        # this process's clients of it (the tests' admin clients) connect as the learner does
        use_connection(self.bootstrap_servers, load_client_config(self.client_properties).librdkafka())
        if not poll(self._all_brokers_registered, timeout, interval=0.5):
            raise RuntimeError(f"the plain cluster's {NODES} brokers did not all register within {timeout:.0f} s")

    def _write_config(self, node: int, keystore: Path, ca: Path) -> Path:
        voters = ",".join(f"{i}@127.0.0.1:{CONTROLLER_PORT + i - 1}" for i in range(1, NODES + 1))
        port = KAFKA_PORT + node - 1
        # the brokers' own login (inter-broker), and the users the listener admits: user_<name>=<their password>
        logins = {"username": "broker", "password": f"{self.password}b", "user_broker": f"{self.password}b"}
        logins[f"user_{USER}"] = self.password
        jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required "
        jaas += " ".join(f'{key}="{value}"' for key, value in logins.items()) + ";"
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(node),
            "controller.quorum.voters": voters,
            "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{CONTROLLER_PORT + node - 1}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_SSL",
            "controller.listener.names": "CONTROLLER",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(ca),
            "log.dirs": str(self.data_dir(node)),
        }
        path = self.folder / f"server-{node}.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
        return path

    def _all_brokers_registered(self) -> bool:
        assert self.processes is not None
        dead = [i + 1 for i, p in enumerate(self.processes) if p.poll() is not None]
        if dead:
            tail = (self.folder / f"node-{dead[0]}.log").read_text(errors="replace").splitlines()[-5:]
            raise RuntimeError(f"plain cluster node(s) {dead} exited: " + " | ".join(tail))
        admin = AdminClient(base_config(self.bootstrap_servers, "test-plain-cluster-up"))
        try:
            return len(admin.list_topics(timeout=2).brokers) == NODES
        except Exception:  # not answering yet
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL what is left after `timeout`; the data is deleted."""
        for process in self.processes or []:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes or []:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_now([process.pid], lambda pid: "kafka.Kafka")
                process.wait(10)
        self.processes = None
        shutil.rmtree(self.data_dir(1).parent, ignore_errors=True)
