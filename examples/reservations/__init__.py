"""The reservations reference service."""
