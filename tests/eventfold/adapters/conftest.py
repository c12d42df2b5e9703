# The SQL backends (SQLite, and MySQL when asked): for the query model's tests (sql/) and
# for the mail and webhook tests, whose reactions keep an effects ledger.
from tests.eventfold.adapters.sql.backends import engine, mysql_url

__all__ = ["engine", "mysql_url"]
