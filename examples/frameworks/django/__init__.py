"""The django example."""
