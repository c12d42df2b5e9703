"""The HTTP entry point (FastAPI): the app factory and the helpers routes use."""

from eventfold.entry.http.app import BackgroundRunner, StopRunner, create_app
from eventfold.entry.http.callers import (
    PUBLIC,
    Authentication,
    Caller,
    ClaimNames,
    CommandOrigin,
    IdempotencyKey,
    LocalSigningKey,
    TokenVerifier,
    jwks_verifier,
    require_role,
)
from eventfold.entry.http.fast_path import FastPathRoute

__all__ = [
    "PUBLIC",
    "Authentication",
    "BackgroundRunner",
    "Caller",
    "ClaimNames",
    "CommandOrigin",
    "FastPathRoute",
    "IdempotencyKey",
    "LocalSigningKey",
    "StopRunner",
    "TokenVerifier",
    "create_app",
    "jwks_verifier",
    "require_role",
]
