"""Notebook 15's helpers that need no cluster: the window sums a check expects, with quixstreams' alignment; the
internal topics of a group told apart from a longer group's, and deleted with the event; a program in a child
process."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from labkit.errors import ConfigError
from labkit.experiments.stream_processing import ProcessorProcess, internal_topics, window_sums
from labkit.polling import wait_until
from labkit.services.event_catalog import event_topic_names


@pytest.mark.unit
def test_tumbling_windows_start_at_multiples_of_their_length() -> None:
    records = [("A", 0, 1), ("A", 999, 2), ("A", 1000, 4), ("B", 2500, 8)]
    assert window_sums(records, 1000) == {("A", 0): 3, ("A", 1000): 4, ("B", 2000): 8}


@pytest.mark.unit
def test_a_record_counts_in_every_hopping_window_that_holds_it_from_time_zero_on() -> None:
    assert window_sums([("A", 2500, 1)], 2000, 1000) == {("A", 1000): 1, ("A", 2000): 1}
    assert window_sums([("A", 500, 1)], 2000, 1000) == {("A", 0): 1}  # no window starts before 0


@pytest.mark.unit
def test_the_same_windows_as_quixstreams() -> None:
    from quixstreams.dataframe.windows.base import get_window_ranges

    for timestamp in (0, 1, 999, 1000, 123_456_789):
        for duration, step in ((1000, None), (4000, 1000), (60_000, 20_000)):
            sums = window_sums([("k", timestamp, 1)], duration, step)
            assert sorted(start for _, start in sums) == [
                start for start, _ in get_window_ranges(timestamp, duration, step)
            ]


@pytest.mark.unit
def test_a_step_that_does_not_divide_the_duration_is_refused() -> None:
    with pytest.raises(ConfigError, match="positive multiple of the step, got 3000 and 2000"):
        window_sums([], 3000, 2000)


@pytest.mark.unit
def test_internal_topics_are_those_of_the_named_groups_only() -> None:
    topics = [
        "changelog__g--in--default",
        "repartition__g--in--event",
        "changelog__g2--in--default",  # another group whose name begins like it
        "event-id-1______seats-sold",
    ]
    assert internal_topics(topics, ["g"]) == ["changelog__g--in--default", "repartition__g--in--event"]


@pytest.mark.unit
def test_a_program_gets_its_order_as_argv_and_is_killed_with_its_output_kept(tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text("import sys, time\nprint('order', sys.argv[1], flush=True)\ntime.sleep(60)\n")
    log = tmp_path / "program.log"
    log.write_text("an earlier start's output\n")
    with ProcessorProcess(script, {"group": "g", "password": "not on the command line"}, log) as program:
        wait_until(lambda: "order" in program.output(), 30, "the program's first line")
        assert program.output() == 'order {"group": "g", "password": "not on the command line"}\n'
        assert "password" not in str(program.process.args)  # the order is not on the command line
        program.kill()
        assert program.process.returncode == -signal.SIGKILL


@pytest.mark.unit
def test_a_program_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no program at .*missing\.py: write it first"):
        ProcessorProcess(tmp_path / "missing.py", {}, tmp_path / "log")


@pytest.mark.unit
def test_the_topics_of_a_stream_processor_go_with_its_events_groups() -> None:
    topics = [
        "event-id-7______seat-reserved______a___to___b",
        "changelog__event-id-7_____seats-sold--7--event-id-7______seat-reserved______a___to___b--default",
        "repartition__event-id-7_____seats-sold--7--event-id-7______seat-reserved______a___to___b--event",
        "changelog__event-id-8_____seats-sold--8--event-id-8______seat-reserved______a___to___b--default",
        "changelog__someone-else--t--default",
        "event-id-7_____a-group-name-is-not-a-topic",
    ]
    assert event_topic_names(topics, 7) == sorted(topics[:3])
