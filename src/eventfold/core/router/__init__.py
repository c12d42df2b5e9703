"""The event router: subscriptions, per-stream ordering and dedup, retries, parking."""
