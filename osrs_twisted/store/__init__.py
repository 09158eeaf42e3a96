"""Persistence: one interface, one Store, and runners for SQLite, PostgreSQL and memory."""
