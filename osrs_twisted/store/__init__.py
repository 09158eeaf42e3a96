"""Persistence: one interface, an embedded SQLite backend and a PostgreSQL one."""
