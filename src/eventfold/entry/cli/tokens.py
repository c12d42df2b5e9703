"""``eventfold token``: a bearer token for the embedded default, signed with the home's key."""

from __future__ import annotations

import re

import typer

from eventfold.entry.cli.common import cli_context, fail
from eventfold.entry.http.callers import DEFAULT_TOKEN_TTL, LocalSigningKey

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
MAX_TTL = 30 * 24 * 3600


def token(
    ctx: typer.Context,
    role: list[str] = typer.Option(
        ...,
        "--role",
        help="The caller's role: customer, staff, support, inventory or operator "
        "(repeat for several).",
    ),
    subject: str = typer.Option(
        ..., "--subject", help="Who the caller is: a customer id, a member of staff, ..."
    ),
    store: list[str] = typer.Option(
        [], "--store", help="A store the caller works for (staff; repeat for several)."
    ),
    ttl: int = typer.Option(
        DEFAULT_TOKEN_TTL, "--ttl", help="Seconds the token stays valid.", min=1, max=MAX_TTL
    ),
) -> None:
    """Print a token (alone, on stdout) for ROLE and SUBJECT, signed with the key in
    EVENTFOLD_HOME that `eventfold run` verifies with (created if missing). Send it as
    `Authorization: Bearer <token>`."""
    settings = cli_context(ctx).settings()
    if settings.jwt_jwks_url:
        fail(
            "EVENTFOLD_JWT_JWKS_URL is set: this service trusts your issuer's tokens, not "
            "local ones; get a token from the issuer (or unset it for the local default)"
        )
    for value, what in [(subject, "--subject"), *((r, "--role") for r in role)]:
        if not _NAME.match(value):
            fail(f"{what} {value!r} must be 1-128 letters, digits or _ . : @ -")
    for value in store:
        if not _NAME.match(value):
            fail(f"--store {value!r} must be 1-128 letters, digits or _ . : @ -")
    key = LocalSigningKey.in_home(settings.home)
    typer.echo(key.sign(subject, role, store, ttl=ttl))
