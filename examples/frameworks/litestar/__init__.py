"""The litestar example."""
