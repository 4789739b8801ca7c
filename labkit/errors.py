"""The errors labkit raises on purpose: each one says what went wrong and what to do.

    LabkitError                      the CLI prints these as one line and exits non-zero, without a traceback
    ├── ConfigError (ValueError)     a setting or argument labkit cannot use
    │   └── EventNotSetUpError       the event id names no event set up (no venue in Redis): call setup_event
    ├── StateError (ValueError)      not now: what is asked needs something else done first
    │   └── EventBusyError           the event's consumer groups still have members: stop its consumers first
    ├── CallError (TypeError)        a call with keyword arguments missing or unknown (an exercise's check)
    ├── MessageError (ValueError)    a Kafka message that cannot be decoded (parked on the dead-letter topic)
    ├── WaitTimeout (TimeoutError)   what a call waits for did not happen in time: the text says what
    ├── ClusterError                 the embedded cluster cannot be started, reached or stopped (a wait that
    │                                timed out on the way is a WaitTimeout)
    ├── TopicLayoutError             an existing topic does not have the layout the event needs
    └── DeliveryError                produced messages were not acknowledged: their batch must not be committed

labkit raises no other exception on purpose. Where a caller catches ValueError for a bad argument, ConfigError,
StateError and MessageError still are ValueErrors; where it catches TimeoutError, WaitTimeout is one.
"""

__all__ = [
    "CallError",
    "ClusterError",
    "ConfigError",
    "DeliveryError",
    "EventBusyError",
    "EventNotSetUpError",
    "LabkitError",
    "MessageError",
    "StateError",
    "TopicLayoutError",
    "WaitTimeout",
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


class StateError(LabkitError, ValueError):
    """What is asked cannot be done now (no consumer to remove, consumers still running): the text says what to
    do first."""


class EventBusyError(StateError):
    """The event's consumer groups still have members: stop its consumers first."""


class CallError(LabkitError, TypeError):
    """A call with keyword arguments missing or unknown, where Python itself cannot tell (a check's `**kwargs`)."""


class MessageError(LabkitError, ValueError):
    """A message that cannot be decoded; the text says what is wrong (it becomes the dead-letter reason)."""


class WaitTimeout(LabkitError, TimeoutError):
    """A wait ran out of time (outcomes, a group settling, a pause): what was awaited, and how long."""


class ClusterError(LabkitError):
    """The embedded cluster cannot be started, reached or stopped."""


class TopicLayoutError(LabkitError):
    """An existing topic does not have the layout the event needs (for example its partition count)."""


class DeliveryError(LabkitError):
    """Some produced messages were not acknowledged by the brokers: the batch must not be committed."""
