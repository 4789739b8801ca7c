"""The errors labkit raises on purpose: each one says what went wrong and what to do.

    LabkitError                      the CLI prints these as one line and exits non-zero, without a traceback
    ├── ConfigError (ValueError)     a setting or argument labkit cannot use
    │   ├── EventNotSetUpError       the event has no venue in Redis: call setup_event first
    │   └── EventBusyError           the event's consumer groups still have members: stop its consumers first
    ├── MessageError (ValueError)    a Kafka message that cannot be decoded (parked on the dead-letter topic)
    ├── ClusterError                 the embedded cluster cannot be started, reached or stopped
    ├── TopicLayoutError             an existing topic does not have the layout the event needs
    └── DeliveryError                produced messages were not acknowledged: their batch must not be committed

Where a caller catches ValueError for a bad argument, ConfigError and MessageError still are ValueErrors.
"""

__all__ = [
    "ClusterError",
    "ConfigError",
    "DeliveryError",
    "EventBusyError",
    "EventNotSetUpError",
    "LabkitError",
    "MessageError",
    "TopicLayoutError",
]


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""


class ConfigError(LabkitError, ValueError):
    """A setting or argument has a value labkit cannot use (names the setting and what is allowed)."""


class EventNotSetUpError(ConfigError):
    """The event was never set up (or was torn down): no venue, no topics. One message wherever it is raised."""

    def __init__(self, event_id: int) -> None:
        super().__init__(f"event {event_id} is not set up: call lab.setup_event(event_id={event_id}) first")
        self.event_id = event_id


class EventBusyError(ConfigError):
    """The event's consumer groups still have members: stop its consumers first."""


class MessageError(LabkitError, ValueError):
    """A message that cannot be decoded; the text says what is wrong (it becomes the dead-letter reason)."""


class ClusterError(LabkitError):
    """The embedded cluster cannot be started, reached or stopped."""


class TopicLayoutError(LabkitError):
    """An existing topic does not have the layout the event needs (for example its partition count)."""


class DeliveryError(LabkitError):
    """Some produced messages were not acknowledged by the brokers: the batch must not be committed."""
