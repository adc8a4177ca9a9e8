"""compliance area."""
