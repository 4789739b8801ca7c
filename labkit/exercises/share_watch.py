"""A learner's ShareConsumer, watched while a check runs the learner's function in the kernel.

The brokers keep no trace of which acknowledgement ended a record, so the check sees them on their way: while the
function runs, `ShareConsumer` (in the function's globals, and in confluent_kafka itself) is a subclass that
notes each consumer's config and each acknowledgement by offset. It also holds the check's deadline: a loop that
never ends is ended at its next poll() by CheckDeadline (a BaseException, as KeyboardInterrupt is, so that an
`except Exception` in the loop does not swallow it). The consumers a function left open are closed afterwards.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka
from confluent_kafka import AcknowledgeType

from labkit.kafka.worker import position


class CheckDeadline(BaseException):
    """Raised from a watched consumer's poll() once the check's time for the learner's function has passed."""


@dataclass
class Watch:
    """What the learner's share consumers were built with and told: configs, and acknowledgements by offset."""

    deadline: float
    configs: list[dict[str, Any]] = field(default_factory=list)
    acks: dict[int, str] = field(default_factory=dict)
    consumers: list[Any] = field(default_factory=list)

    @property
    def modes(self) -> list[str]:
        return [str(c.get("share.acknowledgement.mode", "implicit")).lower() for c in self.configs]

    def close_left_open(self) -> None:
        """Close every consumer the function made (closing one it closed already raises: ignored)."""
        for consumer in self.consumers:
            with contextlib.suppress(Exception):
                consumer.close()


@contextlib.contextmanager
def watching(answer: Callable[..., Any], seconds: float) -> Iterator[Watch]:
    """While the block runs, the ShareConsumer that `answer` names is watched, and its poll() ends the function
    with CheckDeadline after `seconds`."""
    real = confluent_kafka.ShareConsumer
    watch = Watch(deadline=time.monotonic() + seconds)

    class WatchedShareConsumer(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            watch.configs.append({**(args[0] if args and isinstance(args[0], dict) else {}), **kwargs})
            watch.consumers.append(self)

        def poll(self, timeout: float | None = -1) -> Any:
            left = watch.deadline - time.monotonic()
            if left <= 0:
                raise CheckDeadline
            records = super().poll(left if timeout is None or timeout < 0 else min(timeout, left))
            if not records and time.monotonic() >= watch.deadline:
                raise CheckDeadline
            return records

        def acknowledge(self, message: Any, ack_type: Any = AcknowledgeType.ACCEPT) -> None:
            super().acknowledge(message, ack_type)
            watch.acks[position(message)[2]] = AcknowledgeType(ack_type).name

        def acknowledge_offset(
            self, topic: str, partition: int, offset: int, ack_type: Any = AcknowledgeType.ACCEPT
        ) -> None:
            super().acknowledge_offset(topic, partition, offset, ack_type)
            watch.acks[offset] = AcknowledgeType(ack_type).name

    names = [name for name, value in getattr(answer, "__globals__", {}).items() if value is real]
    for name in names:
        answer.__globals__[name] = WatchedShareConsumer
    confluent_kafka.ShareConsumer = WatchedShareConsumer  # type: ignore[misc]
    try:
        yield watch
    finally:
        confluent_kafka.ShareConsumer = real  # type: ignore[misc]
        for name in names:
            answer.__globals__[name] = real
