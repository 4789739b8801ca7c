"""labkit: a Jupyter-driven lab for event-driven messaging with Apache Kafka, around a real ticketing system.

The public API is what `__all__` lists; everything else is internal and may change.
"""

from labkit.cluster.local import LocalCluster
from labkit.errors import ClusterError, ConfigError, LabkitError, TopicLayoutError
from labkit.infrastructure import event_topics, setup_event_infrastructure, setup_event_infrastructure_sync
from labkit.lab import Lab
from labkit.naming import KafkaConsumerGroupBuilder, KafkaTopicBuilder, PartitionKeyBuilder
from labkit.partitioning import SectionBasedPartitionStrategy
from labkit.seating import SeatingConfig, SeatRef
from labkit.settings import Settings

__all__ = [
    "ClusterError",
    "ConfigError",
    "KafkaConsumerGroupBuilder",
    "KafkaTopicBuilder",
    "Lab",
    "LabkitError",
    "LocalCluster",
    "PartitionKeyBuilder",
    "SeatRef",
    "SeatingConfig",
    "SectionBasedPartitionStrategy",
    "Settings",
    "TopicLayoutError",
    "event_topics",
    "setup_event_infrastructure",
    "setup_event_infrastructure_sync",
]
