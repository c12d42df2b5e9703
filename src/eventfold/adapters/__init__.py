"""Adapters: the ports implemented on SQLite, DynamoDB, SQS, SQLAlchemy, HTTP… SDKs live here."""
