"""The package version, in one place for `__init__` and the telemetry scope."""

__version__ = "0.1.0"
