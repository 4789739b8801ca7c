"""The test run's embedded cluster (3 brokers + Redis on their own ports), started on first use and shared by
every test of the run; notebooks' kernels find it through LABKIT_HOME (tests/test_notebooks.py). Beside it, for
the tests that need one, a plain secured cluster labkit did not start (tests/plain_cluster.py), also shared."""

from __future__ import annotations

import os
import shutil
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.cluster.jars import classpath_file
from labkit.cluster.local import LocalCluster
from labkit.cluster.state import ClusterState
from labkit.errors import LabkitError
from labkit.kafka.admin import Admin
from labkit.kafka.cleanup import apply_reset, plan_reset
from labkit.settings import default_home
from tests.plain_cluster import PlainCluster

TEST_HOME = Path(os.environ.get("LABKIT_TEST_HOME", default_home() / "test")).absolute()
TEST_CLUSTER_HOME = TEST_HOME / "cluster"
TEST_KAFKA_PORT = int(os.environ.get("LABKIT_TEST_KAFKA_PORT", "19092"))
TEST_REDIS_PORT = int(os.environ.get("LABKIT_TEST_REDIS_PORT", "16379"))


class SessionCluster:
    """Started in the background while the unit tests run (or on first use), stopped (and wiped) at the end of the
    run if this run started it."""

    def __init__(self, home: Path) -> None:
        self.local = LocalCluster(home)
        self.state: ClusterState | None = None
        self.started = False
        self._admin: Admin | None = None
        self._starting: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start_in_background(self) -> None:
        def start() -> None:
            try:
                self._start()
            except BaseException as error:  # raised again by get(), in the test that needs the cluster
                self._failure = error

        self._starting = threading.Thread(target=start, name="test-cluster-up", daemon=True)
        self._starting.start()

    def _start(self) -> None:
        self.state, self.started = self.local.up(brokers=3, kafka_port=TEST_KAFKA_PORT, redis_port=TEST_REDIS_PORT)

    def get(self) -> ClusterState:
        if self._starting is not None:
            self._starting.join()
            self._starting = None
        if self._failure is not None:
            raise self._failure
        if self.state is None:
            self._start()
        assert self.state is not None
        return self.state

    def admin(self) -> Admin:
        """The run's admin client on it (the tests' `admin` fixture, and the clean-up after each module)."""
        if self._admin is None:
            self._admin = Admin(self.get().bootstrap_servers, client_id="test-admin")
        return self._admin

    def stop(self) -> None:
        if self._starting is not None:  # a run stopped before any test needed it
            self._starting.join()
            self._starting = None
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.started:
            self.local.down(wipe=True)
            self.started = False
        self.state = None


SESSION_CLUSTER = SessionCluster(TEST_CLUSTER_HOME)
PLAIN_CLUSTER = PlainCluster(TEST_HOME / "plain", classpath_home=TEST_CLUSTER_HOME)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A run with tests that need the cluster starts it now, while the unit tests (tests/conftest.py runs them
    first) keep the other core busy: the brokers' ≈ 20-s start overlaps them instead of delaying the run."""
    if any(not item.get_closest_marker("unit") for item in session.items):
        SESSION_CLUSTER.start_in_background()


def pytest_sessionfinish(session: pytest.Session) -> None:
    PLAIN_CLUSTER.stop()
    SESSION_CLUSTER.stop()


@pytest.fixture(scope="session")
def cluster_home() -> Path:
    return TEST_CLUSTER_HOME


@pytest.fixture(scope="session")
def cluster() -> ClusterState:
    """The test cluster, running."""
    return SESSION_CLUSTER.get()


@pytest.fixture(scope="session")
def admin(cluster: ClusterState) -> Admin:
    """An admin client on the test cluster, for tests that look at it beside (or without) a Lab."""
    return SESSION_CLUSTER.admin()


@pytest.fixture(scope="session")
def plain_cluster(cluster: ClusterState) -> PlainCluster:
    """The plain secured cluster, started on first use (its jars are the test cluster's)."""
    if PLAIN_CLUSTER.processes is None:
        PLAIN_CLUSTER.start()
    return PLAIN_CLUSTER


@pytest.fixture(scope="session")
def plain_env(plain_cluster: PlainCluster) -> dict[str, str]:
    """The environment of a learner whose team runs its own secured cluster (SASL_SSL, Kafka's defaults): the
    plain cluster, and a database of the test Redis of its own (db 1). Its LABKIT_HOME is its own, with the test
    cluster's list of Kafka's jars (`labkit kafka` would otherwise ask Maven for it)."""
    home = TEST_HOME / "plain-home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(classpath_file(TEST_CLUSTER_HOME), classpath_file(home))
    return {
        "KAFKA_BOOTSTRAP_SERVERS": PLAIN_CLUSTER.bootstrap_servers,
        "KAFKA_CLIENT_CONFIG": str(PLAIN_CLUSTER.client_properties),
        "REDIS_URL": f"redis://127.0.0.1:{TEST_REDIS_PORT}/1",
        "LABKIT_HOME": str(home),
    }


@pytest.fixture(scope="module", autouse=True)
def no_topics_left_behind() -> Iterator[None]:
    """After each test module, if the test cluster runs: delete every topic and every group without members.
    Tests take fresh event ids rather than clean up after themselves, and what piled up (≈2,000 partitions,
    6,000 replicas, by the time the notebook tests ran in CI) slowed every later test: a restarted broker took
    34 s to load its logs, and 50 bookings/s waited 0.9–7 s."""
    yield
    if PLAIN_CLUSTER.processes is not None:
        with Admin(PLAIN_CLUSTER.bootstrap_servers, client_id="test-admin") as admin:
            _delete_everything(admin, "the plain cluster")
    if SESSION_CLUSTER.state is not None:
        _delete_everything(SESSION_CLUSTER.admin(), "the test cluster")


def _delete_everything(admin: Admin, cluster: str) -> None:
    try:
        apply_reset(admin, plan_reset(admin, keep=""), wait=False)  # "" matches no name: nothing is kept
    except LabkitError as error:  # hygiene, not a check: say so and let the next module run on a fuller cluster
        warnings.warn(f"could not delete {cluster}'s topics after the module: {error}", stacklevel=1)
