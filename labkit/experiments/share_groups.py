"""Notebook 14's share groups (KIP-932): a group's own settings, its members as Kafka's tool lists them, and a share
consumer in a process of its own that takes records and holds them, to be killed or frozen while it does.

The Python AdminClient has no share-group calls yet: a group's settings go through `incremental_alter_configs` on a
GROUP resource, and its members come from Kafka's own `kafka-share-groups` tool.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, ShareConsumer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from labkit.errors import ClusterError, LabkitError, WaitTimeout
from labkit.kafka.admin import Admin, failed_with
from labkit.kafka.groups import delete_group
from labkit.kafka.worker import position
from labkit.polling import poll

if TYPE_CHECKING:
    from labkit.lab import Lab


def configure_share_group(admin: Admin, group: str, settings: Mapping[str, str]) -> None:
    """Set a share group's own configs (`share.auto.offset.reset`, `share.record.lock.duration.ms`, …); the group
    need not exist yet. ClusterError if the brokers refuse one (a lock under their minimum, say)."""
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in settings.items()]
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    admin.request(lambda a: a.incremental_alter_configs([resource])[resource], f"configuring share group {group}")


def delete_share_groups(admin: Admin, groups: Sequence[str], timeout: float = 0.0) -> None:
    """Delete share groups (absent already is fine), waiting up to `timeout` s for each to empty: a killed member
    stays in its group until its session times out (45 s by Kafka's default), though its records come back at
    once. DeleteGroups takes any kind of group, though list_consumer_groups lists none of these (the Python
    AdminClient knows no share groups yet): so they go by name. WaitTimeout names those still in use."""
    left = list(dict.fromkeys(groups))

    def deleted() -> bool:
        for group in list(left):
            try:
                delete_group(admin, group)
            except ClusterError as error:
                if not failed_with(error, KafkaError.NON_EMPTY_GROUP):
                    raise
            else:
                left.remove(group)
        return not left

    if not poll(deleted, timeout, interval=0.5):
        raise WaitTimeout(f"share group(s) {left} still had members after {timeout:.0f} s")


@dataclass(frozen=True)
class ShareMember:
    """One member of a share group, as `kafka-share-groups --describe --members` lists it."""

    consumer_id: str
    assignment: tuple[str, ...]  # topic:partition


def share_members(lab: Lab, group: str) -> list[ShareMember]:
    """The group's members and their assignments (none if the group is empty or unknown yet). Kafka's tool prints
    an assignment as `topic:0,1;other:2`."""
    report = lab.kafka_tool("kafka-share-groups", "--describe", "--group", group, "--members")
    members = []
    for line in report.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0] == group:
            members.append(ShareMember(fields[1], _assignment(fields[5] if len(fields) > 5 else "")))
    return members


def _assignment(text: str) -> tuple[str, ...]:
    """`topic:0,1;other:2` → ('topic:0', 'topic:1', 'other:2')."""
    pairs = [part.rpartition(":") for part in text.split(";") if ":" in part]
    return tuple(f"{topic}:{p}" for topic, _, partitions in pairs for p in partitions.split(",") if p)


def wait_for_members(lab: Lab, group: str, count: int, timeout: float) -> list[ShareMember]:
    """Wait until `count` members of `group` each have an assignment (Kafka's tool asked about once a second)."""

    def assigned() -> list[ShareMember]:
        members = [m for m in share_members(lab, group) if m.assignment]
        return members if len(members) >= count else []

    members = poll(assigned, timeout, interval=1.0)
    if not members:
        raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {count} assigned members of {group}")
    return members


class Holder:
    """A share consumer in a child process: it joins `config`'s group, takes the records of one poll() of `topic`
    (all of them, when they were written at once) without acknowledging any, reports their offsets and when it took
    them (`taken_at`), and then holds them until it is killed (`kill`) or frozen (`freeze`). `close()` kills it in
    any case; its records go back to the group when its connection closes."""

    def __init__(self, config: Mapping[str, Any], topic: str, timeout: float = 60.0) -> None:
        order = json.dumps({"config": dict(config), "topic": topic, "timeout": timeout}) + "\n"  # TypeError first
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a Ctrl+C in the notebook is for the notebook
        )
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(order)
            self.process.stdin.flush()
            line = _read_line(self.process, timeout)
            if not line:
                ended = self.process.poll()
                why = f"it exited with {ended}" if ended is not None else f"none within {timeout:.0f} s"
                raise LabkitError(f"the holder took no record of {topic}: {why}")
            self.taken_at = {int(offset): at for offset, at in json.loads(line)["taken_at"].items()}
        except BaseException:
            self.close()
            raise
        self.offsets = sorted(self.taken_at)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> float:
        """SIGKILL, as a crash: returns when it was sent (time.monotonic())."""
        os.kill(self.pid, signal.SIGKILL)
        return time.monotonic()

    def freeze(self) -> float:
        """SIGSTOP, as a hung process (a long GC pause, a stuck call): alive, connected, silent."""
        os.kill(self.pid, signal.SIGSTOP)
        return time.monotonic()

    def close(self) -> None:
        """Kill it (frozen or not) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The child's first line of output, or '' if it ends or `timeout` s pass first."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return process.stdout.readline()


def _hold() -> None:
    """The child: take the records of the first poll() that returns some (or give up after the order's timeout),
    print their offsets, wait for stdin to close (the notebook ended)."""
    order = json.loads(sys.stdin.readline())
    consumer = ShareConsumer({**order["config"], "share.acknowledgement.mode": "explicit"})
    consumer.subscribe([order["topic"]])
    batch: list[Any] = []
    deadline = time.monotonic() + order["timeout"]
    while not batch:  # one batch only: in explicit mode a poll() before acknowledging the last one's records raises
        if time.monotonic() > deadline:
            os._exit(1)
        batch = [m for m in consumer.poll(0.5) if m.error() is None]
    taken_at = time.monotonic()  # one clock for all processes
    print(json.dumps({"taken_at": {position(m)[2]: taken_at for m in batch}}), flush=True)
    sys.stdin.read()  # returns when the notebook closes our stdin or ends
    os._exit(0)  # no close(): the records are never acknowledged


if __name__ == "__main__":
    _hold()
