import pandas as pd
import pytest

from labkit.handover import measure, plot_handovers

pytestmark = pytest.mark.unit


def bookings(sent_and_waits: list[tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "requested_at": [pd.to_datetime(1000 + s, unit="s") for s, _ in sent_and_waits],
            "latency_ms": [w * 1000 for _, w in sent_and_waits],
        }
    )


def test_a_steps_pause_is_the_longest_wait_of_a_booking_sent_in_the_window_after_it() -> None:
    flow = [(t / 10, 0.05) for t in range(0, 300)]  # 10/s for 30 s, 50 ms each
    flow[105] = (10.5, 2.0)  # just after the join: waited for a handover
    flow[205] = (20.5, 3.0)  # just after the kill
    flow[50] = (5.0, 9.0)  # before any step: counts for no step
    run = measure("consumer", bookings(flow), {"join": 1010.0, "leave": 1015.5, "kill": 1020.0})
    assert [(s.name, s.pause_s) for s in run.steps] == [("join", 2.0), ("leave", 0.05), ("kill", 3.0)]
    assert run.median_latency_s == 0.05
    assert run.table()[["step", "at_s", "pause_s"]].values.tolist() == [
        ["join", 10.0, 2.0],
        ["leave", 15.5, 0.05],
        ["kill", 20.0, 3.0],
    ]
    figure = plot_handovers([run, run])
    assert len(figure.axes) == 2
