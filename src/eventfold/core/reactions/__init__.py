"""Reactions: targets whose handlers return side effects, performed once via a ledger."""
