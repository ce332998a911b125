"""The distribution's version, shared by `__init__` and the telemetry scope."""

__version__ = "0.1.0"
