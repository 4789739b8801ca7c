"""A consume → process → produce loop as a process of its own (notebook 09): at-least-once or transactional.

A forwarder copies each record of `source` to the same partition of `target`, and says where it stands in
`group` every `every_messages` records or `every_ms` milliseconds, whichever comes first:

- **at-least-once**: it flushes what it produced, then commits the input offsets. Killed between the two, it
  reads those records again when it restarts and writes them a second time.
- **transactional**: one Kafka transaction per step holds what it produced *and* the input offsets
  (`send_offsets_to_transaction`); `commit_transaction` makes both visible at once. Killed inside a transaction,
  its records stay in the log, aborted: a `read_committed` reader skips them, `read_uncommitted` sees them. The
  next instance with the same `transactional.id` aborts what is left open (`init_transactions`) and fences the
  older one: any instance still running with that id gets `_FENCED` and stops.

It owns every partition of `source` (assign, no group membership: a restart resumes at once instead of waiting out
the dead member's session). With `effects_key` it also applies an effect outside Kafka, in Redis, for each record:
`INCR <key>:applied` (counts every time it was applied) and `SADD <key>:numbers` (idempotent: a set keeps each
record's number once). Kafka's transaction does not cover either: an aborted record's effect stays applied.

Run it with `python -m labkit.experiments.forwarding …` (`ForwarderProcess` does), so that it can be SIGKILLed
like a crash.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from labkit.checks import is_int
from labkit.client_config import ENV_VAR as CLIENT_CONFIG_VAR
from labkit.client_config import client_config_from_env
from labkit.errors import ConfigError
from labkit.kafka.clients import base_config, connection_source, use_connection
from labkit.store.client import connect_redis

Mode = Literal["at-least-once", "transactional"]
MODES: tuple[Mode, ...] = ("at-least-once", "transactional")
READY = "forwarding since"  # the log line a forwarder writes once it reads, with the epoch ms it began
FENCED_EXIT = 3  # the exit status of a forwarder that a younger instance with its transactional.id fenced


@dataclass(frozen=True)
class ForwarderOptions:
    """What one forwarder reads, writes, and how often it commits."""

    bootstrap_servers: str
    source: str
    target: str
    group: str
    mode: Mode
    every_messages: int = 100
    every_ms: int = 100
    transactional_id: str | None = None  # transactional mode: defaults to "<group>-forwarder"
    redis_url: str | None = None
    effects_key: str | None = None  # with redis_url: apply the effects under this key
    # librdkafka waits this long (100 ms by default) before retrying a request the transaction coordinator refused
    # with CONCURRENT_TRANSACTIONS: it does so while it still writes the previous transaction's commit markers
    retry_backoff_ms: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("every_messages", "every_ms", "retry_backoff_ms"):
            value = getattr(self, name)
            if (value is not None or name != "retry_backoff_ms") and (not is_int(value) or value < 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if (self.effects_key is None) != (self.redis_url is None):
            raise ConfigError("effects_key and redis_url go together: give both or neither")

    @property
    def txn_id(self) -> str:
        return self.transactional_id or f"{self.group}-forwarder"

    def argv(self) -> list[str]:
        """The options as `python -m labkit.experiments.forwarding` flags (`--every-ms 100`), unset ones left out."""
        return [
            arg
            for option in fields(self)
            if (value := getattr(self, option.name)) is not None
            for arg in (_flag(option.name), str(value))
        ]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class ForwarderProcess:
    """A forwarder in a child process: `kill()` is a crash (SIGKILL), `stop()` a clean stop (SIGTERM: the open
    step is committed, or aborted if it cannot be). Its output goes to `log_file`."""

    def __init__(self, options: ForwarderOptions, log_file: Path) -> None:
        self.options = options
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != CLIENT_CONFIG_VAR}
        source = connection_source(options.bootstrap_servers)  # the cluster's TLS / SASL settings, if any
        if source is not None:
            env[CLIENT_CONFIG_VAR] = str(source)
        with open(log_file, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "labkit.experiments.forwarding", *options.argv()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def exit_code(self) -> int | None:
        """None while it runs; FENCED_EXIT when a younger instance fenced it; -9 after kill()."""
        return self._process.poll()

    def kill(self) -> None:
        self._process.kill()
        self._process.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._process.returncode

    def wait(self, timeout: float) -> int:
        return self._process.wait(timeout)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def ready_ms(self) -> int | None:
        """When this instance began reading (epoch ms, from its log), or None while it starts."""
        lines = [line for line in self.log().splitlines() if line.startswith(READY)]
        return int(lines[-1].split()[2].rstrip(":")) if lines else None


class _Forwarder:
    def __init__(self, options: ForwarderOptions) -> None:
        self.options = options
        self.stopping = False
        self.consumer = Consumer(
            base_config(
                options.bootstrap_servers,
                f"labkit-forwarder-{options.mode}",
                group_id=options.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
            )
        )
        producer: dict[str, object] = {"acks": "all", "enable.idempotence": True, "linger.ms": 5}
        if options.retry_backoff_ms is not None:
            producer["retry.backoff.ms"] = options.retry_backoff_ms
        if options.mode == "transactional":
            producer["transactional.id"] = options.txn_id
        self.producer = Producer(base_config(options.bootstrap_servers, f"labkit-forwarder-{options.mode}", **producer))
        self.redis = connect_redis(options.redis_url) if options.redis_url else None
        self.transactional = options.mode == "transactional"
        self.in_step = 0  # records forwarded since the last commit
        self.step_began = time.monotonic()

    def run(self) -> int:
        if self.transactional:
            self.producer.init_transactions(60)  # aborts what an older instance left open, and fences it
        metadata = self.consumer.list_topics(self.options.source, timeout=30).topics[self.options.source]
        self.consumer.assign([TopicPartition(self.options.source, p) for p in sorted(metadata.partitions)])
        ready = round(time.time() * 1000)
        print(f"{READY} {ready}: {self.options.source} → {self.options.target} ({self.options.mode})", flush=True)
        try:
            while not self.stopping:
                room = self.options.every_messages - self.in_step
                records = [m for m in self.consumer.consume(room, timeout=0.05) if self._is_record(m)]
                if records:
                    self._forward(records)
                self.producer.poll(0)
                due = time.monotonic() - self.step_began >= self.options.every_ms / 1000
                if self.in_step and (self.in_step >= self.options.every_messages or due):
                    self._commit()
            if self.in_step:
                self._commit()
        except KafkaException as exc:
            error = exc.args[0]
            fenced = error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
            if fenced or (error.fatal() and "fenced" in error.str().lower()):
                print(f"fenced: {error.name()}: {error.str()}", flush=True)
                return FENCED_EXIT
            raise
        finally:
            self.consumer.close()
        return 0

    def _is_record(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() == KafkaError._PARTITION_EOF:
            return False
        raise KafkaException(error)

    def _forward(self, records: Sequence[Message]) -> None:
        if self.transactional and not self.in_step:
            self.producer.begin_transaction()
        if not self.in_step:
            self.step_began = time.monotonic()
        for message in records:
            while True:
                try:
                    self.producer.produce(
                        self.options.target, message.value(), message.key(), partition=message.partition() or 0
                    )
                    break
                except BufferError:
                    self.producer.poll(0.05)
        self.in_step += len(records)
        if self.redis is not None and self.options.effects_key:
            pipe = self.redis.pipeline(transaction=False)
            pipe.incrby(f"{self.options.effects_key}:applied", len(records))
            pipe.sadd(f"{self.options.effects_key}:numbers", *[m.value() or b"" for m in records])
            pipe.execute()

    def _commit(self) -> None:
        positions = self.consumer.position(self.consumer.assignment())
        if self.transactional:
            self.producer.send_offsets_to_transaction(positions, self.consumer.consumer_group_metadata(), 30)
            self.producer.commit_transaction(30)
        else:
            while self.producer.flush(1):
                pass
            self.consumer.commit(offsets=[tp for tp in positions if tp.offset >= 0], asynchronous=False)
        self.in_step = 0
        self.step_began = time.monotonic()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.experiments.forwarding", description=__doc__.splitlines()[0]
    )
    for option in fields(ForwarderOptions):  # the dataclass's annotations are strings ("int | None")
        parser.add_argument(
            _flag(option.name),
            type=int if option.type.startswith("int") else str,
            required=option.default is MISSING,
            choices=MODES if option.name == "mode" else None,
        )
    args = parser.parse_args(argv)
    client_config = client_config_from_env()  # inherited from the parent: a secured cluster's TLS / SASL
    if client_config is not None:
        use_connection(args.bootstrap_servers, client_config.librdkafka())
    forwarder = _Forwarder(ForwarderOptions(**{k: v for k, v in vars(args).items() if v is not None}))

    def stop(signum: int, frame: object) -> None:
        forwarder.stopping = True

    signal.signal(signal.SIGTERM, stop)
    return forwarder.run()


if __name__ == "__main__":
    sys.exit(main())
