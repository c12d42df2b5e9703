from tests.eventfold.adapters.projections.backends import engine, mysql_url

__all__ = ["engine", "mysql_url"]
