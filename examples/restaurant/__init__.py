"""The restaurant reference service."""
