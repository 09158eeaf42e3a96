"""Background jobs and the clients they use (the OSRS Wiki prices API)."""
