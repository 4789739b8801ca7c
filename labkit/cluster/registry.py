"""The schema registry: Apicurio Registry (a Quarkus application from Maven Central) as one process on 127.0.0.1.

Started only when asked (`labkit registry up`, `Lab.registry_up()`), with in-memory storage: its schemas live as
long as the process, like a scratch topic. Stopped by `labkit registry down` and by `labkit cluster down`. Its
Confluent-compatible API (`/apis/ccompat/v7`) is the one confluent-kafka's `SchemaRegistryClient` speaks.

The archive (≈158 MB) is resolved by Maven from services/registry/pom.xml like the brokers' jars, then unpacked
once into the user's cache folder; its state (pid, ports) and log live in the labkit home beside the cluster's.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tarfile
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from labkit.cluster.jars import pom_property, resolve, services_dir
from labkit.cluster.java import find_java, java_major_version
from labkit.cluster.processes import (
    claim_ports,
    has_exited,
    how_it_ended,
    port_is_free,
    start_detached,
    stop,
)
from labkit.errors import ClusterError
from labkit.polling import poll, wait_until
from labkit.settings import user_cache_dir

HOST = "127.0.0.1"
DEFAULT_REGISTRY_PORT = 8081  # Confluent Schema Registry's port: clients' examples assume it
CCOMPAT_PATH = "/apis/ccompat/v7"
MIN_JAVA = 21  # Quarkus 3.33, which Apicurio Registry 3.3 is built on
# Small heap, C1 only: a registry serves a handful of lookups a second here (each client caches the schemas), so
# a quick start matters more than peak speed; ready in ≈3 s, ≈250 MB resident.
JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


def registry_version() -> str:
    return pom_property(_pom(), "apicurio.version")


def _pom() -> Path:
    return services_dir() / "registry" / "pom.xml"


@dataclass(frozen=True)
class RegistryState:
    """What `registry.json` records: the process and its two ports (the API, and Quarkus' health endpoints)."""

    pid: int
    port: int
    management_port: int
    version: str

    @property
    def url(self) -> str:
        """The Confluent-compatible API: `SchemaRegistryClient({"url": state.url})`."""
        return f"http://{HOST}:{self.port}{CCOMPAT_PATH}"

    @property
    def ready_url(self) -> str:
        return f"http://{HOST}:{self.management_port}/health/ready"


class SchemaRegistryServer:
    """Fetch, start, find and stop the schema registry of the labkit home `home`."""

    def __init__(self, home: Path, java_home: Path | None = None, cache_dir: Path | None = None) -> None:
        self.home = Path(home).absolute()  # the process marker holds this path: one spelling per home
        self.java_home = java_home  # LABKIT_JAVA_HOME (Settings.java_home); None: the pinned JDK
        self.cache_dir = cache_dir or user_cache_dir()
        self.state_file = self.home / "registry.json"
        self.log_file = self.home / "logs" / "registry.log"

    @property
    def marker(self) -> str:
        """In the process's command line: tells this home's registry from any other process."""
        return f"-Dlabkit.registry.home={self.home}"

    # -- the application ---------------------------------------------------------------------------------------
    def app_dir(self) -> Path:
        return self.cache_dir / f"apicurio-registry-{registry_version()}"

    def fetch(self) -> Path:
        """The unpacked application (quarkus-run.jar and lib/), resolving and unpacking it first if needed."""
        app = self.app_dir()
        if (app / "quarkus-run.jar").is_file():
            return app
        listing = self.home / f"apicurio-registry-{registry_version()}.path"
        resolve(_pom(), listing, f"Apicurio Registry {registry_version()}")
        archive = Path(listing.read_text().strip())
        if not archive.is_file():
            raise ClusterError(f"Maven resolved Apicurio Registry to {archive}, which is not there: run it again")
        unpacking = app.with_name(f"{app.name}.{uuid.uuid4().hex[:8]}.unpacking")
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(unpacking, filter="data")  # no absolute paths, no links out of the folder
            unpacking.rename(app)  # whole or not at all: a cut-off unpacking leaves no half application
        finally:
            shutil.rmtree(unpacking, ignore_errors=True)
        return app

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def up(self, port: int = DEFAULT_REGISTRY_PORT, timeout: float = 60.0) -> tuple[RegistryState, bool]:
        """Start the registry unless it runs; (its state, whether this call started it). Returns once it is ready."""
        running = self.status()
        if running is not None:
            return running, False
        java = _java_for_registry(self.java_home)
        app = self.fetch()
        claim_ports({"schema registry": port, "its health endpoints": port + 1}, hint="--port")
        state = RegistryState(0, port, port + 1, registry_version())
        work = self.home / "registry"
        work.mkdir(parents=True, exist_ok=True)
        log_start = self.log_file.stat().st_size if self.log_file.is_file() else 0  # the log is appended to
        pid = start_detached(self._command(java, app, state), self.log_file, cwd=work)
        state = RegistryState(pid, port, port + 1, state.version)
        self._save(state)
        self._wait_ready(state, timeout, log_start)
        return state, True

    def _command(self, java: Path, app: Path, state: RegistryState) -> list[str]:
        return [
            str(java),
            *JVM_OPTIONS,
            self.marker,
            f"-Dquarkus.http.host={HOST}",
            f"-Dquarkus.http.port={state.port}",
            # Quarkus listens for health checks on a port of its own, by default 0.0.0.0:9000
            f"-Dquarkus.management.host={HOST}",
            f"-Dquarkus.management.port={state.management_port}",
            "-jar",
            str(app / "quarkus-run.jar"),
        ]

    def _wait_ready(self, state: RegistryState, timeout: float, log_start: int) -> None:
        def ready() -> bool:
            # not `is_running`: a JVM that has just started may re-execute itself, and for that instant (longer
            # on a loaded machine) /proc shows no command line; `has_exited` waits for it to be really gone
            if has_exited(state.pid, self.marker):
                ended = how_it_ended(state.pid)
                raise ClusterError(
                    f"the schema registry exited while starting{f' ({ended})' if ended else ''}; its log: "
                    f"{self.log_file}\n{_tail(self.log_file, log_start)}"
                )
            return _answers(state.ready_url)

        if not poll(ready, timeout, interval=0.2):
            self.down()
            raise ClusterError(f"the schema registry was not ready within {timeout:.0f} s; its log: {self.log_file}")

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the registry if it runs (its schemas go with it); True when one was stopped."""
        state = self._load()
        if state is None:
            return False
        stopped = not has_exited(state.pid, self.marker)
        if stopped:
            stop([state.pid], lambda _pid: self.marker, timeout)
            ports = (state.port, state.management_port)
            wait_until(lambda: all(port_is_free(p) for p in ports), 15.0, f"the registry's ports {ports} to be free")
        self.state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> RegistryState | None:
        """The running registry's state, or None (a state file left by a crash is forgotten)."""
        state = self._load()
        if state is not None and has_exited(state.pid, self.marker):
            self.state_file.unlink(missing_ok=True)
            return None
        return state

    def _load(self) -> RegistryState | None:
        try:
            return RegistryState(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, state: RegistryState) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(asdict(state), indent=2))


def _java_for_registry(java_home: Path | None) -> Path:
    java = find_java(java_home)
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise ClusterError(
            f"Apicurio Registry needs Java {MIN_JAVA} or newer; {java} is Java {major} "
            "(unset LABKIT_JAVA_HOME to run it on the pinned JDK 25)"
        )
    return java


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError, urllib.error.URLError), urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)
    return False


def _tail(path: Path, start: int, lines: int = 15) -> str:
    """The last `lines` lines of what was written to `path` from byte `start` on: this start's, not an earlier one's."""
    try:
        with open(path, "rb") as log:
            log.seek(start)
            return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
