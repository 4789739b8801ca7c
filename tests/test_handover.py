import pandas as pd
import pytest

from labkit.experiments.handover import measure, plot_handovers

pytestmark = pytest.mark.unit


def bookings(sent_and_waits: list[tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "requested_at": [pd.to_datetime(1000 + s, unit="s") for s, _ in sent_and_waits],
            "latency_ms": [w * 1000 for _, w in sent_and_waits],
            "partition": [i % 3 for i in range(len(sent_and_waits))],
        }
    )


def test_a_steps_pause_is_the_longest_wait_of_a_booking_sent_in_the_window_after_it() -> None:
    flow = [(t / 10, 0.05) for t in range(0, 300)]  # 10/s for 30 s, 50 ms each, partitions 0, 1, 2 in turn
    flow[105] = (10.5, 2.0)  # just after the join, partition 0: waited for a handover
    flow[195] = (19.5, 4.0)  # half a second before the kill: held up by it, counts for no step
    flow[205] = (20.5, 3.0)  # just after the kill, partition 1
    flow[50] = (5.0, 9.0)  # before any step, and before the undisturbed seconds: a warm-up, counts for nothing
    moved = {"join": (0,), "leave": (0,), "kill": (1, 2)}
    run = measure("consumer", bookings(flow), {"join": 1010.0, "leave": 1015.5, "kill": 1020.0}, moved)
    assert [(s.name, s.pause_s) for s in run.steps] == [("join", 2.0), ("leave", 0.05), ("kill", 3.0)]
    assert run.steps[0].by_partition == {0: 2.0, 1: 0.05, 2: 0.05}
    assert run.median_latency_s == 0.05
    assert [s.moved_median_s for s in run.steps] == [2.0, 0.05, (3.0 + 0.05) / 2]  # the median of the moved ones
    assert run.table()[["step", "at_s", "pause_s", "partitions_over_1s", "moved"]].values.tolist() == [
        ["join", 10.0, 2.0, 1, 1],
        ["leave", 15.5, 0.05, 0, 1],
        ["kill", 20.0, 3.0, 1, 2],
    ]
    assert run.partition_pauses().loc["kill"].tolist() == [0.05, 3.0, 0.05]
    figure = plot_handovers([run, run])
    assert len(figure.axes) == 2
