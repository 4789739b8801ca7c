import itertools

import pytest

from labkit.errors import LabkitError, WaitTimeout
from labkit.polling import poll, wait_until

pytestmark = pytest.mark.unit


def test_poll_returns_the_first_truthy_result_without_waiting_out_the_timeout() -> None:
    calls = itertools.count(1)
    assert poll(lambda: next(calls) >= 3, timeout=10, interval=0.01) is True
    assert next(calls) == 4  # checked exactly three times


def test_poll_returns_the_last_falsy_result_once_the_timeout_passes() -> None:
    between: list[int] = []
    assert poll(lambda: 0, timeout=0.05, interval=0.01, between=lambda: between.append(1)) == 0
    assert between  # ran before each pause


def test_wait_until_raises_wait_timeout_naming_what_it_waited_for() -> None:
    wait_until(lambda: True, 0, "nothing")
    with pytest.raises(WaitTimeout, match="waiting for the moon") as raised:
        wait_until(lambda: False, 0.05, "the moon", interval=0.01)
    assert isinstance(raised.value, TimeoutError) and isinstance(raised.value, LabkitError)
