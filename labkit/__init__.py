"""labkit: a Jupyter-driven lab for event-driven messaging with Apache Kafka, around a real ticketing system.

The layers, lowest first; a module imports only from its own layer and those below (tests/test_layers.py):

    core — the ticketing system, what a deployment would run
      errors, checks, settings, polling    the foundation
      domain/        the spec's names, the venue, partitioning, the messages, a booking
      store/ kafka/ measurement/           Redis keyspace and scripts; confluent-kafka wrappers; the plain pipe
      cluster/       the embedded brokers and Redis, their warm-up, where they are, Kafka's own tools
      runtime        the composition root: clients built once from Settings
      services/      ticketing, seat-reservation, their workers, events' topics, consumers as threads/processes
    lab — for learners and measurements, never imported by the core
      lab            Lab, the notebooks' facade
      experiments/   loads, latency, readers, forwarders, keys, compaction: what the notebooks measure with
      widgets/       the ipywidgets booking dashboard
      exercises/     check / hint / solution for every notebook
      cli/           the `labkit` command

The public API is `__all__` below, `labkit.exercises` and the modules of `labkit.experiments`; the rest is internal.
"""

from labkit.cluster.local import LocalCluster
from labkit.domain.booking import Booking
from labkit.domain.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder, PartitionKeyBuilder
from labkit.domain.partitioning import SectionBasedPartitionStrategy
from labkit.domain.seating import SeatingConfig, SeatRef
from labkit.errors import (
    CallError,
    ClusterError,
    ConfigError,
    DeliveryError,
    EventBusyError,
    EventNotSetUpError,
    LabkitError,
    MessageError,
    StateError,
    TopicLayoutError,
    WaitTimeout,
)
from labkit.lab import Lab
from labkit.runtime import Runtime
from labkit.services.event_topics import event_topics, setup_event_infrastructure, setup_event_infrastructure_sync
from labkit.settings import Settings, Tuning


def dashboard(lab: Lab, event_id: int = 1, refresh_interval: float = 0.25, burst_size: int = 100):  # type: ignore[no-untyped-def]
    """The ipywidgets booking dashboard of `labkit.widgets.booking_dashboard` (imported here lazily: the CLI needs no
    widgets). Show it as a cell's value; `close()` stops its refresher thread."""
    from labkit.widgets.booking_dashboard import Dashboard

    return Dashboard(lab, event_id, refresh_interval, burst_size)


__all__ = [
    "Booking",
    "CallError",
    "ClusterError",
    "ConfigError",
    "DeliveryError",
    "EventBusyError",
    "EventNotSetUpError",
    "KafkaConsumerGroupBuilder",
    "KafkaTopicBuilder",
    "Lab",
    "LabkitError",
    "LocalCluster",
    "MessageError",
    "PartitionKeyBuilder",
    "Runtime",
    "SeatRef",
    "SeatingConfig",
    "SectionBasedPartitionStrategy",
    "Settings",
    "StateError",
    "TopicLayoutError",
    "Tuning",
    "WaitTimeout",
    "dashboard",
    "event_topics",
    "setup_event_infrastructure",
    "setup_event_infrastructure_sync",
]
