"""An event's Kafka infrastructure: its topics, with one partition per subsection."""

from __future__ import annotations

import asyncio
import logging

from labkit.checks import parse_event_id
from labkit.cluster.local import LocalCluster
from labkit.cluster.state import broker_name
from labkit.domain.naming import KafkaTopicBuilder
from labkit.domain.seating import SeatingConfig
from labkit.errors import ClusterError
from labkit.kafka.settling import Settling, wait_until_responsive
from labkit.kafka.topics import broker_ids, ensure_topics
from labkit.polling import poll
from labkit.runtime import Runtime
from labkit.settings import Settings

log = logging.getLogger(__name__)

REJOIN_TIMEOUT = 30.0  # a broker restarted or back from a partition registers within seconds
DEAD_LETTER_PARTITIONS = 1  # parked messages are few and read by people: one ordered log is easiest to read


def event_topics(event_id: int, seating: SeatingConfig | None = None) -> dict[str, int]:
    """Topic name → partition count for one event: one partition per subsection, the dead-letter topic one."""
    partitions = (seating or SeatingConfig.default()).subsection_count
    dead_letter = KafkaTopicBuilder.dead_letter__services_to_operator(event_id)
    return {
        name: DEAD_LETTER_PARTITIONS if name == dead_letter else partitions
        for name in KafkaTopicBuilder.get_all_topics(event_id)
    }


def create_event_topics(
    event_id: int, seating: SeatingConfig | None, runtime: Runtime
) -> tuple[dict[str, str], Settling | None]:
    """Create the event's topics idempotently with replication min(3, brokers) and min.insync.replicas min(2,
    replication) on the topics themselves — labkit's durability on any cluster, whose own default may be 1 (Kafka's
    is) —: name → "created" | "exists", and, if any was created, how long the brokers took to answer quickly
    again (else None).

    A topic that already exists with another partition count, or fewer replicas, raises TopicLayoutError.
    The wait (bounded, logged) is for an acks=all produce to be confirmed quickly: each broker creates a log
    per new replica first, and a stream started meanwhile waited seconds per message (labkit.kafka.settling).
    """
    event_id = parse_event_id(event_id)
    replication = replication_for(runtime)
    durability = {"min.insync.replicas": str(min(2, replication))}
    outcome = ensure_topics(runtime.admin, event_topics(event_id, seating), replication, durability)
    if "created" not in outcome.values():
        return outcome, None
    return outcome, wait_until_responsive(runtime.admin, replication)


def setup_event_infrastructure_sync(
    event_id: int = 1, seating: SeatingConfig | None = None, settings: Settings | None = None
) -> dict[str, str]:
    """The event's topics, created if missing (`create_event_topics`); name → "created" | "exists"."""
    with Runtime.connect(settings or Settings.from_env()) as runtime:
        return create_event_topics(event_id, seating, runtime)[0]


def replication_for(runtime: Runtime) -> int:
    """min(3, the cluster's size): the embedded cluster's N brokers, else the brokers in the metadata.

    From the brokers alive at that moment it would shrink silently after a fault left one down (event topics
    with replication 2 for good); so with too few registered it refuses, naming the missing brokers. When brokers
    whose process runs but which are not registered yet (restarting, or fenced by a partition just healed) would
    make up the number, they are waited for, up to REJOIN_TIMEOUT. The metadata comes from whichever broker
    answers: one just back from a partition may still list itself, and the topics' creation then names it.
    """
    settings = runtime.settings
    live = broker_ids(runtime.admin)
    cluster = None if settings.external else LocalCluster(settings.home)
    state = cluster.load() if cluster else None
    if cluster is None or state is None:
        return min(3, len(live))
    wanted = min(3, len(state.brokers))
    if len(live) >= wanted:
        return wanted
    running = {b.node_id for b in cluster.status(state).brokers if b.alive}
    waited = len(live | running) >= wanted  # the running ones would make up the number once registered
    if waited:
        live = _wait_for_rejoining(runtime, wanted, sorted(running - live))
        running = {b.node_id for b in cluster.status(state).brokers if b.alive}
    if len(live) < wanted:
        unregistered = (
            f"runs but has not registered in {REJOIN_TIMEOUT:.0f} s" if waited else "runs but is not registered"
        )
        missing = [
            f"{broker_name(b.node_id, b.address)} {unregistered if b.node_id in running else 'not running'}"
            for b in state.brokers
            if b.node_id not in live
        ]
        raise ClusterError(
            f"an event's topics need {wanted} replicas, but only {len(live)} of the embedded cluster's "
            f"{len(state.brokers)} brokers are registered: {', '.join(missing)}. Restart them with "
            "`labkit cluster up` (or Lab.up()), or heal what cuts them off or pauses them (`labkit chaos heal`)"
        )
    return wanted


def _wait_for_rejoining(runtime: Runtime, wanted: int, rejoining: list[int]) -> set[int]:
    """The registered brokers once there are `wanted` of them, or after REJOIN_TIMEOUT s, whichever comes first."""
    log.warning(
        "waiting up to %.0f s for brokers %s to register again (restarting, or back from a partition)",
        REJOIN_TIMEOUT,
        rejoining,
    )

    def registered() -> set[int]:
        ids = broker_ids(runtime.admin)
        return ids if len(ids) >= wanted else set()

    return poll(registered, REJOIN_TIMEOUT, interval=0.5) or broker_ids(runtime.admin)


async def setup_event_infrastructure(
    event_id: int = 1, seating: SeatingConfig | None = None, settings: Settings | None = None
) -> dict[str, str]:
    """The spec's `await setup_event_infrastructure(event_id=1)`: the sync version, off the event loop."""
    return await asyncio.to_thread(setup_event_infrastructure_sync, event_id, seating, settings)
