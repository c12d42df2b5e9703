"""Who uses the console: an operator's token kept in a cookie, and CSRF protection.

A browser cannot easily send ``Authorization: Bearer``, so the login form takes an operator
token once and sets it as a cookie (HttpOnly: scripts cannot read it; SameSite=Strict:
no other site's page sends it; Path=/console; Secure when served over HTTPS; expiring
with the token). Every console request verifies the cookie's token with the app's
:class:`~eventfold.entry.http.callers.Authentication`, exactly as a bearer token, and
needs the ``operator`` role.

Every POST that changes something carries a CSRF token (a form field or the
``X-CSRF-Token`` header htmx sends): a SHA-256 of the session token, which a page of
another origin cannot compute because it cannot read the HttpOnly cookie. The POST's
``Origin`` header, when sent, must also be the console's own.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from eventfold.core.app.origin import Actor
from eventfold.entry.http.callers import Authentication
from eventfold.errors import Forbidden, IssuerUnavailable, Unauthenticated

COOKIE = "eventfold_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
ROLE = "operator"
PATH = "/console"


class NeedsLogin(Exception):
    """No valid operator session: the browser is sent to the login form (``reason`` says
    why, e.g. the token expired)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ConsoleSession:
    """An operator signed in to the console."""

    actor: Actor
    csrf: str


def csrf_token(session_token: str) -> str:
    return hashlib.sha256(f"eventfold-console-csrf:{session_token}".encode()).hexdigest()


def operator_of(authentication: Authentication, token: str) -> Actor:
    """The operator ``token`` names; Unauthenticated or Forbidden otherwise."""
    actor = authentication.actor_of_token(token)
    if not actor.has(ROLE):
        raise Forbidden(f"the console needs the role {ROLE}; this token's subject is not one")
    return actor


def token_expiry(authentication: Authentication, token: str) -> int:
    """Seconds until ``token`` expires (the cookie's Max-Age)."""
    claims = authentication.verify(token)
    return max(0, int(float(claims["exp"]) - time.time()))


async def console_session(request: Request) -> ConsoleSession:
    """A console route's dependency: the signed-in operator, else :class:`NeedsLogin`."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise NeedsLogin("sign in with an operator token")
    authentication: Authentication = request.app.state.authentication
    try:
        actor = operator_of(authentication, token)
    except (Unauthenticated, Forbidden, IssuerUnavailable) as exc:
        raise NeedsLogin(str(exc)) from None
    return ConsoleSession(actor, csrf_token(token))


Session = Annotated[ConsoleSession, Depends(console_session)]
"""A console route's parameter: the operator using it (a redirect to the login otherwise)."""


async def checked_post(request: Request, session: Session) -> ConsoleSession:
    """A console action's dependency: the session, once the request's CSRF token and
    origin are the console's own (403 otherwise)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent, session.csrf):
        raise Forbidden("the console form is stale or forged (no valid CSRF token): reload it")
    same_origin(request)
    return session


def same_origin(request: Request) -> None:
    """Forbidden when the request says it comes from another origin than this host's."""
    origin = request.headers.get("origin")
    if origin is None:  # not every browser sends it on a same-origin POST
        return
    host = request.headers.get("host", "")
    if origin.split("://", 1)[-1] != host:
        raise Forbidden(f"a console action must come from the console's own origin, not {origin}")


Action = Annotated[ConsoleSession, Depends(checked_post)]
"""A console action's parameter: the operator, with the CSRF token and origin checked."""
