"""tenants area."""
