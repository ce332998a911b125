"""The distribution's version, shared by `__init__`, the telemetry scope and the resource."""

__version__ = "0.1.0"
