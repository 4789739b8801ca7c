"""The errors labkit raises on purpose: each one says what went wrong and what to do."""


class LabkitError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero, without a traceback."""


class ConfigError(LabkitError, ValueError):
    """A setting or argument has a value labkit cannot use (names the setting and what is allowed)."""


class ClusterError(LabkitError):
    """The embedded cluster cannot be started, reached or stopped."""


class TopicLayoutError(LabkitError):
    """An existing topic does not have the layout the event needs (for example its partition count)."""
