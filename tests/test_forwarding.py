"""The forwarders as processes on the real cluster: a SIGKILLed transactional one writes each record once to
read_committed readers, an at-least-once one may write some twice, a younger instance fences an older one, and
the cost measurement gives figures for every record."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.domain.naming import group_name
from labkit.experiments.forwarder_cost import cost_table, measure_forwarder
from labkit.experiments.forwarding import FENCED_EXIT, ForwarderOptions, ForwarderProcess, Mode
from labkit.experiments.producer_acks import NumberedWriter, numbers_in_log
from labkit.experiments.reading import log_ranges, read_topic
from labkit.experiments.scratch_topics import create_topic, experiment_topic
from labkit.polling import wait_until
from labkit.settings import Settings

TIMEOUT = 90


@pytest.mark.unit
def test_options_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="mode must be one of at-least-once, transactional"):
        ForwarderOptions("b:1", "in", "out", "g", "exactly-once")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="every_messages must be a positive integer"):
        ForwarderOptions("b:1", "in", "out", "g", "transactional", every_messages=0)
    with pytest.raises(ValueError, match="effects_key and redis_url go together"):
        ForwarderOptions("b:1", "in", "out", "g", "transactional", effects_key="k")
    options = ForwarderOptions("b:1", "in", "out", "g", "transactional", retry_backoff_ms=5)
    assert options.txn_id == "g-forwarder" and options.argv()[-2:] == ["--retry-backoff-ms", "5"]


def _topics(settings: Settings, event_id: int, name: str) -> tuple[str, str]:
    source, target = experiment_topic(event_id, f"{name}-in"), experiment_topic(event_id, f"{name}-out")
    for topic in (source, target):
        create_topic(settings.kafka_bootstrap_servers or "", topic, partitions=2)
    return source, target


def _written(bootstrap: str, topic: str) -> int:
    return sum(r.end for r in log_ranges(bootstrap, topic, isolation="read_uncommitted").values())


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["transactional", "at-least-once"])
def test_a_killed_forwarder_loses_nothing_and_only_the_transactional_one_never_duplicates(
    settings: Settings, event_id: int, tmp_path: Path, mode: Mode
) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    source, target = _topics(settings, event_id, "killed")
    options = ForwarderOptions(bootstrap, source, target, group_name(event_id, "killed"), mode, every_messages=50)
    writer = NumberedWriter(bootstrap, source, "all", 300, 900).start()
    first = ForwarderProcess(options, tmp_path / "first.log")
    wait_until(lambda: _written(bootstrap, target) >= 150, TIMEOUT, "the first forwarder to write")
    first.kill()
    second = ForwarderProcess(options, tmp_path / "second.log")
    try:
        writer.join(TIMEOUT)
        wait_until(lambda: len(numbers_in_log(read_topic(bootstrap, target))) == 900, TIMEOUT, "every record")
    finally:
        assert second.stop() == 0
    assert first.exit_code == -9
    committed = numbers_in_log(read_topic(bootstrap, target, isolation="read_committed"))
    everything = read_topic(bootstrap, target, isolation="read_uncommitted")
    assert set(committed) == set(range(900))
    if mode == "transactional":
        assert sum(committed.values()) == 900, "read_committed: each record once"
    else:
        assert len(everything) == sum(committed.values()), "no transactions: both isolation levels read the same"


@pytest.mark.integration
def test_a_younger_instance_with_the_same_transactional_id_fences_the_older(
    settings: Settings, event_id: int, tmp_path: Path
) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    source, target = _topics(settings, event_id, "zombie")
    options = ForwarderOptions(bootstrap, source, target, group_name(event_id, "zombie"), "transactional")
    NumberedWriter(bootstrap, source, "all", 1000, 300).start().join(TIMEOUT)
    older = ForwarderProcess(options, tmp_path / "older.log")
    younger = None
    try:
        wait_until(lambda: len(numbers_in_log(read_topic(bootstrap, target))) == 300, TIMEOUT, "the older to forward")
        younger = ForwarderProcess(options, tmp_path / "younger.log")
        wait_until(lambda: younger.ready_ms() is not None, TIMEOUT, "the younger to begin")
        assert older.exit_code is None, "the older one learns it is fenced only when it next writes"
        NumberedWriter(bootstrap, source, "all", 1000, 300, first=300).start().join(TIMEOUT)
        wait_until(lambda: older.exit_code is not None, TIMEOUT, "the older forwarder to stop")
        wait_until(lambda: len(numbers_in_log(read_topic(bootstrap, target))) == 600, TIMEOUT, "every record")
    finally:
        assert younger is None or younger.stop() == 0
        older.stop()
    assert older.exit_code == FENCED_EXIT and "fenced: _FENCED" in older.log()
    assert sum(numbers_in_log(read_topic(bootstrap, target)).values()) == 600


@pytest.mark.integration
def test_measure_forwarder_drains_a_backlog_and_times_every_record(
    settings: Settings, event_id: int, tmp_path: Path
) -> None:
    bootstrap = settings.kafka_bootstrap_servers or ""
    source, target = _topics(settings, event_id, "cost")
    options = ForwarderOptions(bootstrap, source, target, group_name(event_id, "cost"), "transactional", 100, 200)
    cost = measure_forwarder(options, backlog=200, rate=100, seconds=1, log_file=tmp_path / "cost.log")
    assert cost.drain_per_s > 0 and cost.latency.completed == cost.latency.bookings == 100
    assert 0 < cost.latency.p50_ms <= cost.latency.p99_ms
    row = cost_table([cost]).iloc[0]
    assert row["mode"] == "transactional" and row["commit every (records)"] == 100
