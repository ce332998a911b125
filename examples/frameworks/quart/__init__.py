"""The quart example."""
