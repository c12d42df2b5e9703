"""Which optional extra of the ``eventfold`` distribution brings which libraries.

``pip install eventfold`` gives the stdlib-only kit: deciders, the command handler, the
embedded SQLite event store, the router's core. Each integration is an extra; a facade
that needs one calls :func:`require_extra` before importing it, so a missing library is
one ImportError naming the ``pip install`` that fixes it rather than a traceback deep in
an adapter. Keep :data:`EXTRAS` in step with ``[project.optional-dependencies]`` in
pyproject.toml (tests/eventfold/test_packaging.py compares them).
"""

from __future__ import annotations

from importlib.util import find_spec

EXTRAS: dict[str, tuple[str, ...]] = {
    "sql": ("sqlalchemy", "alembic"),
    "mysql": ("sqlalchemy", "alembic", "pymysql"),
    "protobuf": ("google.protobuf",),
    "http": (
        "sqlalchemy",
        "alembic",
        "fastapi",
        "uvicorn",
        "pydantic",
        "pydantic_settings",
        "jwt",
        "httpx",
        "httptools",
        "structlog",
        "prometheus_client",
        "aiosmtpd",
        "fastapi_offline",
        "jinja2",
        "multipart",
    ),
    "cli": ("fastapi", "sqlalchemy", "typer", "rich"),
    "aws": ("boto3", "structlog"),
    "lambda": ("boto3", "fastapi", "sqlalchemy", "mangum", "aws_lambda_powertools"),
}
"""Per extra, the top-level modules its packages provide (import names, not PyPI names)."""


def _installed(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:  # "google.protobuf" when "google" itself is missing
        return False


def missing_modules(*extras: str) -> list[str]:
    """The modules of ``extras`` that cannot be imported here."""
    return [module for extra in extras for module in EXTRAS[extra] if not _installed(module)]


def require_extra(user: str, *extras: str) -> None:
    """Raise ImportError naming the ``pip install`` to run when a module of ``extras`` is
    missing; ``user`` says what needs them (e.g. ``"eventfold.web"``)."""
    missing = missing_modules(*extras)
    if missing:
        wanted = ",".join(extras)
        raise ImportError(
            f"{user} needs {', '.join(sorted(set(missing)))}, not installed here: "
            f"pip install 'eventfold[{wanted}]'",
            name=missing[0],
        )
