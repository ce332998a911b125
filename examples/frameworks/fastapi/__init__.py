"""The fastapi example."""
