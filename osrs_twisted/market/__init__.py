"""The Grand Exchange market: price arithmetic, the in-memory snapshot of
items and prices with its rankings, and the catalog that keeps it fresh."""
