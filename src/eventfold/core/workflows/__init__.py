"""Workflows (process managers, sagas): the runner, written once for every definition."""
