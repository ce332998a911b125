"""The flask example."""
