"""The Grand Exchange market, all pure logic: price arithmetic (gex), the
in-memory snapshot of items and prices with its rankings, the catalog that
keeps it fresh, and bot command: actions, their economics, the buy-limit
ledger and the allocator that gives every bot a task."""
