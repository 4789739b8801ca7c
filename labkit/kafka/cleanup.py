"""A reset of the cluster: every topic and group but those kept deleted, groups first."""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass

from confluent_kafka import KafkaError

from labkit.errors import ClusterError, WaitTimeout
from labkit.kafka.admin import Admin, failed_with
from labkit.kafka.groups import delete_group, describe_request, list_groups
from labkit.kafka.topics import broker_count, list_topics


@dataclass(frozen=True)
class ResetPlan:
    """What `topics reset` deletes, keeps, and refuses to delete (groups that still have members)."""

    delete_topics: list[str]
    delete_groups: list[str]
    busy_groups: dict[str, int]
    kept: list[str]


def plan_reset(admin: Admin, keep: str) -> ResetPlan:
    """Every topic and group whose name does not match the glob `keep`; internal topics are never touched."""
    topics = list_topics(admin)
    groups = list_groups(admin)
    doomed_groups = [g for g in groups if not fnmatch.fnmatchcase(g, keep)]
    busy: dict[str, int] = {}
    for group_id in doomed_groups:
        described = admin.request(describe_request(group_id), f"describing {group_id}")
        if described.members:
            busy[group_id] = len(described.members)
    return ResetPlan(
        delete_topics=[t for t in topics if not fnmatch.fnmatchcase(t, keep)],
        delete_groups=[g for g in doomed_groups if g not in busy],
        busy_groups=busy,
        kept=[name for name in [*topics, *groups] if fnmatch.fnmatchcase(name, keep)],
    )


def apply_reset(admin: Admin, plan: ResetPlan, wait: bool = True) -> None:
    """Delete what the plan says; groups first, so no group is left pointing at deleted topics. `wait`: until no
    broker lists the deleted topics any more (what `topics reset` promises; the tests' hygiene does not wait)."""
    for group_id in plan.delete_groups:
        delete_group(admin, group_id)
    if plan.delete_topics:
        for name, future in admin.client.delete_topics(plan.delete_topics, operation_timeout=admin.timeout).items():
            try:
                admin.result(future, f"deleting topic {name}")
            except ClusterError as exc:
                if not failed_with(exc, KafkaError.UNKNOWN_TOPIC_OR_PART):  # deleted meanwhile: as asked
                    raise
        if wait:
            _wait_until_unlisted(admin, set(plan.delete_topics))


def _wait_until_unlisted(admin: Admin, doomed: set[str]) -> None:
    """Deletion reaches each broker's metadata a moment apart, and each metadata request may go to another
    broker: wait until twice as many listings in a row as there are brokers no longer show the topics."""
    deadline = time.monotonic() + admin.timeout
    clean_in_a_row = 0
    while clean_in_a_row < 2 * broker_count(admin):
        listed = doomed & set(admin.metadata().topics)
        clean_in_a_row = 0 if listed else clean_in_a_row + 1
        if listed and time.monotonic() >= deadline:
            raise WaitTimeout(f"topics still listed {admin.timeout:.0f} s after their deletion: {sorted(listed)}")
        time.sleep(0.2)
