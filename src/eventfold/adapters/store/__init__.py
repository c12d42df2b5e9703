"""Event store adapters."""
