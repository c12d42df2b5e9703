"""Feeds: sources of committed events for the router."""
