"""labkit: a Jupyter-driven lab for event-driven messaging with Apache Kafka, around a real ticketing system.

The public API is what `__all__` lists, plus these modules, which the notebooks use and which keep their names:
`labkit.load` (send_burst, BookingStream, wait_all), `labkit.latency` (open_loop, sweep, compare_with_pipe,
sustainable_rate), `labkit.pipe` (PlainPipe: the baseline without labkit's code),
`labkit.analysis` (summarize, format_summary, messages_per_partition), `labkit.audit` (audit),
`labkit.consumers` (ConsumerProcesses), `labkit.polling` (wait_until), `labkit.handover` (run_handovers,
plot_handovers), and the experiments' helpers of notebooks 07 to 10: `labkit.topics` (create_topic,
experiment_topic, topic configs), `labkit.delivery` (NumberedWriter, compare, produce_once), `labkit.reading`
(read_topic, offsets_at, log_ranges, GroupReader), `labkit.replay` (the bookings view from the reply topics),
`labkit.offsets` (group_offsets, parse_group_table), `labkit.segments` (kafka-dump-log's batches),
`labkit.forwarding` (ForwarderOptions, ForwarderProcess), `labkit.forwarder_cost` (measure_forwarder),
`labkit.arrivals` (ArrivalClock), `labkit.keys` (murmur2, default_partition, write_records, order_report),
`labkit.compaction` (COMPACTED, latest_by_key, wait_until_compacted) and `labkit.hot_partition` (drain_rate).
Everything else is internal and may change.
"""

from labkit.booking import Booking
from labkit.cluster.local import LocalCluster
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
from labkit.infrastructure import event_topics, setup_event_infrastructure, setup_event_infrastructure_sync
from labkit.lab import Lab
from labkit.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder, PartitionKeyBuilder
from labkit.partitioning import SectionBasedPartitionStrategy
from labkit.runtime import Runtime
from labkit.seating import SeatingConfig, SeatRef
from labkit.settings import Settings, Tuning


def dashboard(lab: Lab, event_id: int = 1, refresh_interval: float = 0.25, burst_size: int = 100):  # type: ignore[no-untyped-def]
    """The ipywidgets booking dashboard of `labkit.booking_dashboard` (imported here lazily: the CLI needs no
    widgets). Show it as a cell's value; `close()` stops its refresher thread."""
    from labkit.booking_dashboard import Dashboard

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
