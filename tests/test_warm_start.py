"""The brokers' ahead-of-time cache: named by what it is tied to, trained by a warm start from nothing, written at
the trainer's clean stop, mapped by later starts, and never the reason a start fails (cluster/aot.py,
cluster/warm_start.py). The integration test runs a 1-broker cluster of its own on its own ports."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.cluster.aot import AotCache, default_aot_dir, unused_cache_reason
from labkit.cluster.broker import JVM_OPTIONS, BrokerTuning
from labkit.cluster.jars import classpath_file, ensure_classpath
from labkit.cluster.local import LocalCluster
from labkit.cluster.processes import command_line
from labkit.cluster.training import run_training_load

KAFKA_PORT, REDIS_PORT = 21492, 21479

# what the pinned JDK printed here for a cache made for other jars, and for a start that used its cache
REFUSED = [
    "[0.038s][warning][aot] Required classpath entry does not exist: /org/apache/kafka/kafka_2.13-4.2.2.jar",
    "[0.038s][error  ][aot] An error has occurred while processing the AOT cache. Run with -Xlog:aot for details.",
    "[0.038s][error  ][aot] shared class paths mismatch (hint: enable -Xlog:class+path=info to diagnose the failure)",
    "[0.042s][error  ][aot] Unable to map shared spaces",
]
USED = ["[0.038s][warning][aot] Failed to link AdapterHandlerEntry (fp=LLLLLLLLILLL) to its code in the AOT code cache"]


@pytest.mark.unit
def test_a_cache_is_named_by_the_jvm_the_classpath_and_the_options(tmp_path: Path) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("")
    name = AotCache.for_jvm(tmp_path, java, "a.jar:b.jar", JVM_OPTIONS).path
    assert name == AotCache.for_jvm(tmp_path, java, "a.jar:b.jar", JVM_OPTIONS).path
    assert name.parent == tmp_path and name.suffix == ".aot"
    assert name != AotCache.for_jvm(tmp_path, java, "a.jar:c.jar", JVM_OPTIONS).path
    assert name != AotCache.for_jvm(tmp_path, java, "a.jar:b.jar", (*JVM_OPTIONS, "-Xmx1g")).path
    libjvm = tmp_path / "jdk" / "lib" / "server" / "libjvm.so"
    libjvm.parent.mkdir(parents=True)
    libjvm.write_bytes(b"another build")
    assert name != AotCache.for_jvm(tmp_path, java, "a.jar:b.jar", JVM_OPTIONS).path


@pytest.mark.unit
def test_a_trained_cache_is_kept_only_if_the_trainer_wrote_one(tmp_path: Path) -> None:
    cache = AotCache(tmp_path / "brokers-0123.aot")
    first, second = cache.new_training_path(), cache.new_training_path()
    assert first != second, "two trainers never write the same file"
    assert AotCache.of_training(first) == cache
    first.write_bytes(b"")
    assert not cache.keep_trained(first) and not cache.exists() and not first.exists()
    second.write_bytes(b"cache")
    assert cache.keep_trained(second) and cache.exists() and not second.exists()
    cache.discard()
    assert not cache.exists()


@pytest.mark.unit
def test_a_refused_cache_is_told_from_one_that_was_used() -> None:
    reason = unused_cache_reason(REFUSED)
    assert reason is not None and "shared class paths mismatch" in reason
    assert unused_cache_reason(USED) is None
    assert unused_cache_reason([]) is None


@pytest.mark.unit
def test_the_cache_lives_in_the_users_cache_folder_unless_told() -> None:
    assert default_aot_dir({"HOME": "/h", "XDG_CACHE_HOME": "/c"}) == Path("/c/labkit/aot")
    assert default_aot_dir({"LABKIT_AOT_DIR": "/x/aot"}) == Path("/x/aot")


@pytest.fixture
def aot_cluster(tmp_path: Path, cluster_home: Path) -> Iterator[LocalCluster]:
    classpath_file(tmp_path).write_text(ensure_classpath(cluster_home))
    cluster = LocalCluster(tmp_path, BrokerTuning(aot_dir=tmp_path / "aot"))
    try:
        yield cluster
    finally:
        cluster.down(wipe=True)


def _broker_command(cluster: LocalCluster) -> str:
    pid = cluster.status().brokers[0].pid
    return (command_line(pid) or "") if pid else ""


@pytest.mark.integration
@pytest.mark.timeout(400)
def test_a_start_trains_the_cache_the_next_maps_it_and_a_bad_one_starts_without_it(
    aot_cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    state, _ = aot_cluster.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT, train=True)
    assert state.aot_training is not None and f"-XX:AOTCacheOutput={state.aot_training}" in _broker_command(aot_cluster)
    with caplog.at_level(logging.WARNING, logger="labkit.cluster.training"):
        run_training_load(state.bootstrap_servers, replication=1)
    stopped = [r.getMessage() for r in caplog.records if r.name == "labkit.cluster.training"]
    assert not stopped, stopped  # it logs what stopped it early
    cache = AotCache.of_training(Path(state.aot_training))
    assert not cache.exists(), "the cache is written when the trainer stops, not before"

    assert aot_cluster.down() == [], "the trainer stopped cleanly, in time"
    assert cache.exists() and cache.path.stat().st_size > 10_000_000, "a trained cache holds tens of MB"
    recorded = LocalCluster(aot_cluster.home).load()  # what `labkit cluster down` in another process reads
    assert recorded is not None and recorded.aot_training is None
    assert sorted(p.name for p in cache.path.parent.iterdir()) == [cache.path.name], "no training file is left"

    aot_cluster.down(wipe=True)
    aot_cluster.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT, train=True)
    assert f"-XX:AOTCache={cache.path}" in _broker_command(aot_cluster)
    assert "AOTCacheOutput" not in _broker_command(aot_cluster), "a cache exists: nothing is trained"
    assert aot_cluster.cache_refused is None

    aot_cluster.down(wipe=True)
    cache.path.write_bytes(b"not a cache")
    _, started = aot_cluster.up(brokers=1, kafka_port=KAFKA_PORT, redis_port=REDIS_PORT)
    assert started and aot_cluster.status().running
    assert aot_cluster.cache_refused is not None and not cache.exists(), "a cache the JVM refused is deleted"
