"""platform area."""
