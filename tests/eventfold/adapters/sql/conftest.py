from tests.eventfold.adapters.sql.backends import engine, mysql_url

__all__ = ["engine", "mysql_url"]
