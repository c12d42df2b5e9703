"""The catalog reference service."""
