"""When each numbered record becomes readable: a consumer in a thread of its own that notes the first time it
reads each number (values written by `labkit.experiments.producer_acks.NumberedWriter`).

With `read_committed` (the default), a record written in a transaction becomes readable only when the transaction
commits, so the figure includes the forwarder's commit; from a writer's scheduled send to here is a latency that
a sender that falls behind cannot hide.
"""

from __future__ import annotations

import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from labkit.errors import ClusterError
from labkit.experiments.reading import Isolation, reader_config
from labkit.polling import wait_until


class ArrivalClock:
    """Reads `topic` from its beginning until `stop()`; `first_seen[n]` is when number n was first read (epoch
    ms), `records` how many records were read in all (a number read twice counts twice)."""

    def __init__(self, bootstrap_servers: str, topic: str, isolation: Isolation = "read_committed") -> None:
        self.topic = topic
        self.first_seen: dict[int, float] = {}
        self.records = 0
        self.error: BaseException | None = None
        self._config = reader_config(bootstrap_servers, "labkit-arrival-clock", isolation_level=isolation)
        self._config["enable.partition.eof"] = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"labkit-arrivals-{topic}", daemon=True)

    def start(self) -> ArrivalClock:
        self._thread.start()
        return self

    def wait_for(self, count: int, timeout: float) -> None:
        """Until `count` distinct numbers were read (TimeoutError after `timeout` s, saying how many)."""
        wait_until(
            lambda: self.error is not None or len(self.first_seen) >= count,
            timeout,
            f"{count} distinct numbers readable in {self.topic}",
        )
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        consumer = Consumer(self._config)
        try:
            metadata = consumer.list_topics(self.topic, timeout=30).topics[self.topic]
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in sorted(metadata.partitions)])
            while not self._stop.is_set():
                for message in consumer.consume(1000, timeout=0.05):
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            raise ClusterError(f"reading {self.topic} failed: {error}")
                        continue
                    now = time.time() * 1000
                    self.records += 1
                    self.first_seen.setdefault(int(message.value() or b"-1"), now)
        except BaseException as error:  # handed to wait_for()
            self.error = error
        finally:
            consumer.close()
