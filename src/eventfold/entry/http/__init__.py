"""The HTTP entry point (FastAPI): the app factory and the helpers routes use."""

from eventfold.entry.http.app import BackgroundRunner, IdempotencyKey, StopRunner, create_app

__all__ = ["BackgroundRunner", "IdempotencyKey", "StopRunner", "create_app"]
