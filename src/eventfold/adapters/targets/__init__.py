"""Targets and effect performers that leave the process: HTTP webhooks and SMTP e-mail."""
