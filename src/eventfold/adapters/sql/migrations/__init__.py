"""Alembic migrations of eventfold's own query-side tables (run by :func:`migrate`)."""
