"""RFC 9457 problem details: every error the HTTP entry point answers is one of these.

A problem is ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``,
``instance`` (the request path) and an ``issues`` list (``[{path, message, code}]``, every
issue at once for bad input). eventfold's errors map to statuses through ONE table,
:data:`PROBLEMS`; an error class missing from it takes the entry of its nearest listed base.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Scope

from eventfold.errors import (
    CodecError,
    ConcurrencyConflict,
    ConfigurationError,
    EventfoldError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidCommand,
    Issue,
    IssuerUnavailable,
    NotYetVisible,
    RuleViolated,
    StoreError,
    StoreLimitExceeded,
    StoreUnavailable,
    StreamNotFound,
    Unauthenticated,
    VersionNotFound,
)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:eventfold:problem:"
RETRY_AFTER_SECONDS = 1
"""What a 503 tells the client to wait before retrying (the store said it was busy)."""

logger = structlog.stdlib.get_logger("eventfold.http")

Extras = Callable[[Any], dict[str, Any]]
"""Extension members a problem adds for its error (e.g. the versions of a conflict)."""


def _no_extras(_: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """How one error class is answered.

    ``public`` False hides the error's message (it may name internals) behind ``detail``.
    """

    status: int
    slug: str
    title: str
    public: bool = True
    detail: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    extras: Extras = _no_extras
    headers_of: Callable[[Any], Mapping[str, str]] = _no_extras
    """Headers that depend on the error (added to ``headers``)."""

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.slug

    @property
    def code(self) -> str:
        """The ``code`` of the issue a problem of this kind carries when it has no other."""
        return self.slug.replace("-", "_")


def _conflict_extras(exc: ConcurrencyConflict) -> dict[str, Any]:
    return {
        "stream_id": exc.stream_id,
        "expected_version": exc.expected,
        "actual_version": exc.actual,
    }


def _stream_extras(exc: StreamNotFound) -> dict[str, Any]:
    return {"stream_id": exc.stream_id}


def _version_extras(exc: VersionNotFound) -> dict[str, Any]:
    return {"stream_id": exc.stream_id, "min_version": exc.wanted, "current_version": exc.current}


def _visibility_extras(exc: NotYetVisible) -> dict[str, Any]:
    return {"stream_id": exc.stream_id, "min_version": exc.wanted, "visible_version": exc.visible}


def _challenge(exc: Unauthenticated) -> dict[str, str]:
    # RFC 6750 section 3: the reason goes in error_description, without quotes inside.
    reason = exc.reason.replace('"', "'").replace("\\", "/")
    return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'}


PROBLEMS: Mapping[type[EventfoldError], ProblemKind] = {
    Unauthenticated: ProblemKind(
        401, "unauthenticated", "A valid bearer token is needed", headers_of=_challenge
    ),
    Forbidden: ProblemKind(403, "forbidden", "The caller may not do this"),
    IssuerUnavailable: ProblemKind(
        503,
        "issuer-unavailable",
        "The token issuer could not be reached; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    ),
    InvalidCommand: ProblemKind(422, "invalid-command", "The command is invalid"),
    RuleViolated: ProblemKind(409, "rule-violated", "The command breaks a business rule"),
    ConcurrencyConflict: ProblemKind(
        409,
        "concurrency-conflict",
        "The stream changed since it was read",
        extras=_conflict_extras,
    ),
    StreamNotFound: ProblemKind(404, "stream-not-found", "No such stream", extras=_stream_extras),
    VersionNotFound: ProblemKind(
        404,
        "version-not-found",
        "The stream never reached the version asked for",
        extras=_version_extras,
    ),
    IdempotencyKeyReused: ProblemKind(
        422, "idempotency-key-reused", "The Idempotency-Key was used for another command"
    ),
    StoreLimitExceeded: ProblemKind(
        422, "store-limit-exceeded", "The command would exceed a limit of the event store"
    ),
    StoreUnavailable: ProblemKind(
        503,
        "store-unavailable",
        "The event store is busy; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    ),
    NotYetVisible: ProblemKind(
        503,
        "not-yet-visible",
        "The query model has not caught up with the version asked for; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        extras=_visibility_extras,
    ),
    ConfigurationError: ProblemKind(500, "configuration-error", "The server is misconfigured"),
    StoreError: ProblemKind(
        500,
        "store-error",
        "The event store failed",
        public=False,
        detail="the event store failed; the error was logged",
    ),
    CodecError: ProblemKind(
        500,
        "codec-error",
        "Stored data could not be decoded",
        public=False,
        detail="stored data could not be decoded; the error was logged",
    ),
    EventfoldError: ProblemKind(
        500,
        "internal-error",
        "Internal server error",
        public=False,
        detail="the server failed to handle the request; the error was logged",
    ),
}
"""eventfold error class -> how it is answered over HTTP. The one place statuses are set."""

INTERNAL_ERROR = PROBLEMS[EventfoldError]
VALIDATION = ProblemKind(422, "invalid-request", "The request is invalid")


def kind_of(exc: EventfoldError) -> ProblemKind:
    """The table entry of ``exc``'s class or of its nearest listed base class."""
    for cls in type(exc).__mro__:
        kind = PROBLEMS.get(cls)
        if kind is not None:
            return kind
    return INTERNAL_ERROR  # pragma: no cover - EventfoldError itself is listed


def problem_response(
    request: Request,
    *,
    status: int,
    type_: str,
    title: str,
    detail: str,
    issues: Iterable[Issue] = (),
    headers: Mapping[str, str] | None = None,
    extras: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A problem+json response. ``instance`` is the request path."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "issues": [{"path": i.path, "message": i.message, "code": i.code} for i in issues],
    }
    body.update(extras or {})
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def kind_response(
    request: Request,
    kind: ProblemKind,
    detail: str,
    issues: Iterable[Issue],
    extras: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response of one of eventfold's own kinds (its status, type, title and
    headers, plus ``headers``)."""
    return problem_response(
        request,
        status=kind.status,
        type_=kind.type,
        title=kind.title,
        detail=detail,
        issues=issues,
        headers={**kind.headers, **(headers or {})},
        extras=extras,
    )


def eventfold_error_response(request: Request, exc: EventfoldError) -> JSONResponse:
    kind = kind_of(exc)
    if kind.public:
        detail = str(exc)
        issues = (
            exc.issues
            if isinstance(exc, InvalidCommand)
            else (Issue("", detail, getattr(exc, "code", kind.code)),)
        )
    else:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = kind.detail
        issues = (Issue("", detail, kind.code),)
    return kind_response(
        request,
        kind,
        detail,
        issues,
        extras=kind.extras(exc) if kind.public else None,
        headers=kind.headers_of(exc),
    )


def _issue_path(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def validation_issues(errors: Sequence[Any]) -> list[Issue]:
    """Every pydantic / FastAPI validation error as an Issue; ``body.quantity`` style paths."""
    issues = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        code = str(error.get("type", "invalid"))
        message = str(error.get("msg", "invalid"))
        if code == "json_invalid":
            # FastAPI puts the character offset where a path would be.
            reason = error.get("ctx", {}).get("error", "")
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            issues.append(Issue("body", f"the body is not valid JSON ({reason}{where})", code))
            continue
        issues.append(Issue(_issue_path(loc), message, code))
    return issues


def request_validation_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    unsupported = unsupported_media_type(request)
    if unsupported is not None:
        return unsupported
    issues = validation_issues(exc.errors())
    count = len(issues)
    detail = f"{count} issue{'s' if count != 1 else ''} with the request: " + "; ".join(
        str(i) for i in issues
    )
    return kind_response(request, VALIDATION, detail, issues)


FASTAPI_BODY_ERROR = "There was an error parsing the body"
"""FastAPI's 400 detail for a body it could not decode that is not a JSONDecodeError."""


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def unsupported_media_type(request: Request) -> JSONResponse | None:
    """A 415 problem when the request's route takes a JSON body and the request says its
    body is something else (FastAPI then validates the raw bytes: a confusing 422)."""
    route = request.scope.get("route")
    content_type = request.headers.get("content-type")
    if getattr(route, "body_field", None) is None or content_type is None:
        return None
    if _is_json(content_type):
        return None
    detail = f"the body must be JSON (Content-Type: application/json), not {content_type}"
    return http_error_response(request, HTTPException(415, detail=detail))


def _undecodable_body_issue(exc: HTTPException) -> Issue | None:
    """The issue of a body FastAPI could not decode and answered 400 for (too deeply
    nested, not UTF-8), where any other bad JSON is a 422 ``json_invalid``."""
    cause = exc.__cause__
    if exc.status_code != 400 or exc.detail != FASTAPI_BODY_ERROR or cause is None:
        return None
    if isinstance(cause, RecursionError):
        reason = "nested too deeply"
    elif isinstance(cause, UnicodeError):
        reason = "not UTF-8 text"
    else:
        reason = type(cause).__name__
    return Issue("body", f"the body is not valid JSON ({reason})", "json_invalid")


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route of the app answers on the request's path. Starlette's 405
    names only the methods of the first route matching the path; each method is tried
    here as the router would route it (FastAPI nests included routers)."""
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(r.matches(probe)[0] is Match.FULL for r in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def http_error_response(request: Request, exc: HTTPException) -> JSONResponse:
    """Plain HTTP errors (unknown route, wrong method, a service's own HTTPException)."""
    undecodable = _undecodable_body_issue(exc)
    if undecodable is not None:
        return kind_response(
            request, VALIDATION, f"1 issue with the request: {undecodable}", [undecodable]
        )
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and "app" in request.scope:
        headers["Allow"] = _allowed_methods(request)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "Error"
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and detail == phrase:
        detail = f"no route matches {request.method} {request.url.path}; see /docs"
    elif exc.status_code == 405 and detail == phrase:
        detail = f"{request.method} is not allowed on {request.url.path}; see /docs"
    return problem_response(
        request,
        status=exc.status_code,
        type_="about:blank",
        title=phrase,
        detail=detail,
        issues=(Issue("", detail, phrase.lower().replace(" ", "_")),),
        headers=headers,
    )


def unexpected_error_response(scope: Scope, exc: Exception) -> JSONResponse:
    """The 500 problem for an exception no handler took: it names nothing internal. The
    exception itself is logged, with its traceback."""
    request = Request(scope)
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    detail = INTERNAL_ERROR.detail
    return kind_response(request, INTERNAL_ERROR, detail, (Issue("", detail, INTERNAL_ERROR.code),))
