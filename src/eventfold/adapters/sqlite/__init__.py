"""SQLite adapters (standard library only): the embedded event store, the feed that tails
it, the router's state, and their shared plumbing (``plumbing``: connections, pragmas, the
write gate)."""
