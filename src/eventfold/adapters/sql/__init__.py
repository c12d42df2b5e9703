"""SQL query models (SQLAlchemy 2; SQLite and MySQL/MariaDB): projections, their rebuild,
the effects ledger of reactions, and the Alembic migrations of eventfold's own tables."""
