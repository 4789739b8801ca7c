"""The arithmetic of latency runs and sweeps: pure logic, no cluster."""

from __future__ import annotations

import math

import pytest

from labkit.experiments.latency import Run, Sweep, check_load, summarize_latency, sustainable_rate, sweep
from labkit.measurement.latency_stats import LatencySummary, settled_after, window_p99s, windows

pytestmark = pytest.mark.unit


def run_with(p99_by_rate: dict[float, float]) -> tuple[Run, list[tuple[float, float]]]:
    """A fake run that answers with the given p99 per rate, and the (rate, wait) of every call."""
    calls: list[tuple[float, float]] = []

    def run(rate: float, wait: float) -> LatencySummary:
        calls.append((rate, wait))
        p99 = p99_by_rate[rate]
        return LatencySummary(rate, 10, 10, p99 / 2, p99, p99, rate)

    return run, calls


def test_a_booking_without_an_outcome_counts_as_infinitely_late() -> None:
    starts = [0.0] * 100
    complete = summarize_latency(50.0, starts, [float(i) for i in range(100)])
    assert (complete.completed, complete.p50_ms, complete.p99_ms, complete.max_ms) == (100, 49.0, 98.0, 99.0)
    two_missing = summarize_latency(50.0, starts, [float(i) for i in range(98)] + [None, None])
    assert two_missing.completed == 98 and two_missing.p50_ms == 49.0
    assert math.isinf(two_missing.p99_ms) and math.isinf(two_missing.max_ms)
    assert math.isinf(summarize_latency(50.0, [0.0], [None]).p50_ms)


def test_each_curve_stops_after_its_first_rate_over_the_limit() -> None:
    slow, slow_calls = run_with({10: 100, 20: 3_000, 40: 9_000})
    fast, fast_calls = run_with({10: 50, 20: 60, 40: 70})
    result = sweep({"slow": slow, "fast": fast}, [10, 20, 40], seconds=1, stop_above_p99_ms=2_000)
    assert [r for r, _ in slow_calls] == [10, 20] and [r for r, _ in fast_calls] == [10, 20, 40]
    assert result.stopped == "the rates ran out; p99 over 2,000 ms stopped slow after 20/s"
    p99 = result.p99()
    assert p99["fast"].tolist() == [50, 60, 70] and list(p99.columns) == ["slow", "fast"]
    assert p99["slow"].tolist()[:2] == [100, 3_000] and math.isnan(p99.loc[40, "slow"])
    assert sustainable_rate(result.runs["fast"], 65) == 20


def test_a_sweep_stops_when_its_budget_cannot_hold_another_run() -> None:
    run, calls = run_with({10: 50})
    result = sweep({"labkit": run}, [10], seconds=5, budget_s=6)  # a run needs 5 s of sending and 5 of draining
    assert calls == [] and result.stopped == "the time budget ran out before labkit at 10/s"
    assert result.frame().empty


def test_a_run_may_drain_only_until_the_budget_ends() -> None:
    run, calls = run_with({10: 50})
    sweep({"labkit": run}, [10], seconds=1, budget_s=30)
    ((rate, wait),) = calls
    assert rate == 10 and 27 < wait <= 29


def test_every_curve_over_the_limit_ends_the_sweep() -> None:
    run, calls = run_with({10: 5_000, 20: 10})
    result = sweep({"labkit": run}, [10, 20], seconds=1)
    assert len(calls) == 1 and result.stopped == "every curve's p99 passed 2,000 ms (labkit after 10/s)"
    assert isinstance(result, Sweep)


@pytest.mark.parametrize(
    ("rate", "seconds", "message"),
    [(0, 1, "rate must be a positive number"), (10, -1, "seconds must be a positive number"), ("x", 1, "rate")],
)
def test_a_load_is_checked(rate: object, seconds: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_load(rate, seconds)  # type: ignore[arg-type]


def test_windows_cut_a_run_by_scheduled_time() -> None:
    starts = [i * 100.0 for i in range(40)]  # 10/s for 4 s
    ends = [s + (900.0 if s < 2000 else 20.0) for s in starts]
    cut = windows(starts, ends, 1.0)
    assert [at for at, _ in cut] == [0.0, 1.0, 2.0, 3.0]
    assert [s.bookings for _, s in cut] == [10, 10, 10, 10]
    assert [s.p99_ms for _, s in cut] == [900.0, 900.0, 20.0, 20.0]


def test_a_slow_phase_lasts_until_the_last_slow_window() -> None:
    starts = [i * 100.0 for i in range(100)]  # 10 s in 2-s windows
    slow_then_quick = [s + (900.0 if s < 4000 else 20.0) for s in starts]
    assert settled_after(starts, slow_then_quick, 250.0) == 4.0
    assert settled_after(starts, [s + 20.0 for s in starts], 250.0) == 0.0
    a_late_wave = [s + (900.0 if 6000 <= s < 8000 else 20.0) for s in starts]
    assert settled_after(starts, a_late_wave, 250.0) == 8.0
    never_arrived_at_the_end = [*[s + 20.0 for s in starts[:-1]], None]
    assert settled_after(starts, never_arrived_at_the_end, 250.0) is None


def test_window_p99s_are_whole_ms_and_none_where_a_message_never_arrived() -> None:
    starts = [i * 100.0 for i in range(40)]
    ends: list[float | None] = [s + 20.4 for s in starts]
    ends[25] = None
    assert window_p99s(starts, ends, 1.0) == [20, 20, None, 20]
