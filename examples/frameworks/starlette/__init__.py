"""The starlette example."""
