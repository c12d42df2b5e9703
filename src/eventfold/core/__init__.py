"""Core: the ports adapters implement, the command handler and the event router. No SDKs."""
