"""The files a person uses without Docker here: compose, conda environment, pyproject, the public API."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

import labkit
from labkit.cluster.jars import kafka_version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_three_kraft_brokers_with_a_three_voter_quorum() -> None:
    services = compose()["services"]
    brokers = {name: s for name, s in services.items() if name.startswith("kafka")}
    assert sorted(brokers) == ["kafka1", "kafka2", "kafka3"]
    for name, broker in brokers.items():
        env = broker["environment"]
        assert broker["image"] == f"apache/kafka:{kafka_version()}"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka1:29093,2@kafka2:29093,3@kafka3:29093"
        assert env["KAFKA_NODE_ID"] == name[-1]
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
        assert len(env["CLUSTER_ID"]) == 22


def test_compose_has_kvrocks_and_scalable_services() -> None:
    services = compose()["services"]
    assert services["kvrocks"]["image"].startswith("apache/kvrocks:")
    for name in ("ticketing", "seat-reservation"):
        service = services[name]
        assert "container_name" not in service and not service.get("ports")  # scalable: nothing fixed per container
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka1:29092,kafka2:29092,kafka3:29092"
        assert service["environment"]["REDIS_URL"].startswith("redis://kvrocks:6666")
        assert service["command"][:3] == ["labkit", "consumers", "run"]


def test_every_published_port_is_bound_to_loopback() -> None:
    published = [p for s in compose()["services"].values() for p in s.get("ports", [])]
    assert published, "compose publishes the brokers and Kvrocks"
    for port in published:
        assert str(port).startswith("127.0.0.1:"), port


def _requirement_names(specs: list[str]) -> dict[str, str]:
    return {re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower(): spec for spec in specs}


def test_environment_yml_has_the_same_python_dependencies_as_pyproject_plus_maven_and_no_java() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _requirement_names(pip) == _requirement_names(wanted)
    assert not any(d.startswith("openjdk") for d in conda)  # the pinned JDK comes from PyPI
    assert "maven" in conda
    assert "python>=3.11" in conda
    for name in ("confluent-kafka", "redis", "pandas", "jupyterlab", "ipywidgets", "papermill", "pytest"):
        assert name in _requirement_names(wanted)


def test_quixstreams_needs_nothing_but_labkits_dependencies_besides_its_confluent_kafka_pin() -> None:
    from importlib.metadata import requires

    theirs = _requirement_names([r for r in requires("quixstreams") or [] if "extra ==" not in r])
    ours = _requirement_names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert set(theirs) - {"confluent-kafka"} <= set(ours), set(theirs) - set(ours)


def test_the_public_api_is_sorted_and_importable() -> None:
    assert labkit.__all__ == sorted(labkit.__all__)
    for name in labkit.__all__:
        assert getattr(labkit, name) is not None
    from labkit import (  # noqa: F401 - the spec's five names, from the package root
        KafkaConsumerGroupBuilder,
        KafkaTopicBuilder,
        PartitionKeyBuilder,
        SectionBasedPartitionStrategy,
        setup_event_infrastructure,
    )


def test_the_readme_is_a_front_door_whose_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200, "the README is the front door: measurements and details go to docs/"
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert {"docs/benchmark.md", "docs/cluster.md", "docs/faults.md", "docs/testing.md"} <= set(links)
    assert [link for link in links if not (ROOT / link).is_file()] == []
    for doc in (ROOT / "docs").glob("*.md"):
        assert "](../README.md)" in doc.read_text(), f"{doc.name} links back to the README"
