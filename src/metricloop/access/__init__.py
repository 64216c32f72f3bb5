"""Users, roles, sessions, API tokens, metric and row-level permissions."""
