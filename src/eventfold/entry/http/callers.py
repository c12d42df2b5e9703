"""Who is calling: bearer tokens (JWT, verified with PyJWT) turned into an :class:`Actor`.

Three ways a token is trusted, chosen once by the composition root:

- the embedded default: a key pair that ``eventfold run`` creates in ``EVENTFOLD_HOME`` on
  first start (:class:`LocalSigningKey`); ``eventfold token`` signs with it;
- production: an issuer's JWKS (Cognito, any OIDC provider; :func:`jwks_verifier`), keys
  cached and fetched again when a token names an unknown ``kid``;
- on Lambda behind API Gateway's JWT authorizer: the claims the authorizer already verified
  (``requestContext.authorizer`` of the Lambda event) are used as they are.

A route declares its audience with a parameter of type :data:`Caller` (authenticated; 401
problem otherwise) or, for the few public reads, ``dependencies=[PUBLIC]``; a test walks
every route of the mounted app and checks it has one of the two. What a caller may do is
the service's policy, decided after authentication.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPBearer

from eventfold.core.app.handler import fingerprint
from eventfold.core.app.origin import Actor, Origin, client_command_id
from eventfold.errors import Forbidden, IssuerUnavailable, Unauthenticated

TokenVerifier = Callable[[str], Mapping[str, Any]]
"""Checks a token's signature, expiry, issuer and audience and returns its claims; raises
Unauthenticated (saying why) for any token it does not accept."""

ALGORITHMS = ("RS256", "ES256")
"""Asymmetric algorithms only: a verifier never holds a key that can sign."""


@dataclass(frozen=True, slots=True)
class ClaimNames:
    """Which claims carry the subject, the roles and the stores of a caller. The roles claim
    may hold one role, a list, or (API Gateway's rendering of a list claim) ``"[a b]"``;
    for a Cognito user pool set ``roles="cognito:groups"``."""

    subject: str = "sub"
    roles: str = "role"
    stores: str = "stores"

    def actor(self, claims: Mapping[str, Any]) -> Actor:
        subject = claims.get(self.subject)
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated(f"the token has no {self.subject!r} claim")
        roles = _names(claims.get(self.roles))
        if not roles:
            raise Unauthenticated(f"the token has no {self.roles!r} claim naming a role")
        return Actor(subject, roles, _names(claims.get(self.stores)))


def _names(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        return frozenset(part for part in text.replace(",", " ").split() if part)
    if isinstance(value, list | tuple):
        return frozenset(str(v) for v in value if isinstance(v, str) and v)
    return frozenset()


def _decode(token: str, key: Any, *, issuer: str, audience: str) -> Mapping[str, Any]:
    try:
        claims: Mapping[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(ALGORITHMS),
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated(
            f"the token is not meant for this service (audience {audience!r})"
        ) from None
    except jwt.InvalidIssuerError:
        raise Unauthenticated(f"the token was not issued by {issuer!r}") from None
    except jwt.InvalidSignatureError:
        raise Unauthenticated("the token's signature does not verify") from None
    except jwt.InvalidAlgorithmError:
        raise Unauthenticated(
            f"the token must be signed with one of {', '.join(ALGORITHMS)}"
        ) from None
    except jwt.exceptions.InvalidSubjectError:
        raise Unauthenticated("the token's 'sub' claim is not a string") from None
    except jwt.MissingRequiredClaimError as missing:
        raise Unauthenticated(f"the token has no {missing.claim!r} claim") from None
    except jwt.InvalidTokenError as bad:
        raise Unauthenticated(f"the token is malformed ({type(bad).__name__})") from None
    return claims


# -- the embedded default: a key pair in EVENTFOLD_HOME ---------------------------------------

LOCAL_ISSUER = "eventfold-local"
LOCAL_AUDIENCE = "eventfold"
LOCAL_KEY_FILE = "token-signing-key.pem"
DEFAULT_TOKEN_TTL = 3600


class LocalSigningKey:
    """The embedded default's RS256 key pair, a PEM file (mode 0600) in the home folder.

    RS256 rather than ES256: verifying costs about a sixth (a small public exponent), and
    the service verifies far more often than ``eventfold token`` signs."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._private = private_key
        self._public = private_key.public_key()

    @classmethod
    def generate(cls) -> LocalSigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def in_home(cls, home: Path) -> LocalSigningKey:
        """The home's key, created on first use. Safe when several processes start at once:
        the file appears whole (written aside, then linked) and the first one wins."""
        path = home / LOCAL_KEY_FILE
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            fresh = cls.generate()
            aside = home / f".{LOCAL_KEY_FILE}.{os.getpid()}"
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(fresh.pem())
            try:
                os.link(aside, path)
            except FileExistsError:
                pass  # another process was first: use its key
            finally:
                aside.unlink()
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise Unauthenticated(f"{path} does not hold an RSA key; delete it to make a new one")
        return cls(loaded)

    def pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(
        self,
        subject: str,
        roles: Iterable[str],
        stores: Iterable[str] = (),
        *,
        ttl: int = DEFAULT_TOKEN_TTL,
        claims: ClaimNames = ClaimNames(),
        now: float | None = None,
    ) -> str:
        """A token for ``subject`` with ``roles`` (one role: a string claim), valid ``ttl``
        seconds."""
        issued = int(time.time() if now is None else now)
        names = sorted(set(roles))
        body: dict[str, Any] = {
            "iss": LOCAL_ISSUER,
            "aud": LOCAL_AUDIENCE,
            "iat": issued,
            "exp": issued + ttl,
            claims.subject: subject,
            claims.roles: names[0] if len(names) == 1 else names,
        }
        if stores:
            body[claims.stores] = sorted(set(stores))
        return jwt.encode(body, self._private, algorithm="RS256")

    def verifier(self) -> TokenVerifier:
        public = self._public

        def verify(token: str) -> Mapping[str, Any]:
            return _decode(token, public, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)

        return verify


# -- production: an issuer's JWKS ---------------------------------------------------------------


def jwks_verifier(
    url: str, *, issuer: str, audience: str, refetch_after: float = 30.0
) -> TokenVerifier:
    """Verifies tokens with the issuer's published keys (``url``: its JWKS document). Keys
    are cached 10 minutes; a token naming an unknown ``kid`` makes one fresh fetch (key
    rotation), at most once per ``refetch_after`` seconds (a flood of made-up kids must
    not become a flood of fetches)."""
    keys = jwt.PyJWKClient(
        url, cache_keys=True, lifespan=600, timeout=5, cooldown_duration=refetch_after
    )

    def verify(token: str) -> Mapping[str, Any]:
        try:
            key = keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise IssuerUnavailable(f"the issuer's keys could not be fetched from {url}") from None
        except (jwt.PyJWKClientError, jwt.DecodeError) as bad:
            raise Unauthenticated(f"the token's key is not the issuer's ({bad})") from None
        return _decode(token, key, issuer=issuer, audience=audience)

    return verify


# -- the HTTP edge -------------------------------------------------------------------------------

_CACHE_LIMIT = 10_000


class Authentication:
    """Turns a request into the :class:`Actor` that sent it.

    Verified tokens are remembered until they expire (a client sends the same token for
    its whole lifetime; verifying an RS256 signature costs more than the rest of a small
    command). ``trust_gateway``: use the claims of API Gateway's JWT authorizer from the
    Lambda event when present (the gateway verified them; a client cannot forge the
    request context)."""

    def __init__(
        self,
        verify: TokenVerifier,
        claims: ClaimNames = ClaimNames(),
        *,
        trust_gateway: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verify = verify
        self.claims = claims
        self.trust_gateway = trust_gateway
        self._clock = clock
        self._known: dict[str, tuple[Actor, float]] = {}

    def actor_of_token(self, token: str) -> Actor:
        now = self._clock()
        known = self._known.get(token)
        if known is not None and now < known[1]:
            return known[0]
        claims = self.verify(token)
        actor = self.claims.actor(claims)
        if len(self._known) >= _CACHE_LIMIT:
            self._known.clear()
        self._known[token] = (actor, float(claims["exp"]))
        return actor

    def actor(self, scope: Mapping[str, Any], token: str | None) -> Actor:
        if self.trust_gateway:
            verified = _gateway_claims(scope)
            if verified is not None:
                return self.claims.actor(verified)
        if not token:
            raise Unauthenticated("no bearer token: send Authorization: Bearer <token>")
        return self.actor_of_token(token)


def _gateway_claims(scope: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The claims API Gateway's JWT (HTTP API) or Cognito (REST API) authorizer verified."""
    event = scope.get("aws.event")
    if not isinstance(event, Mapping):
        return None
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims")
    if isinstance(claims, str):  # some integrations pass the claims as a JSON string
        claims = json.loads(claims)
    return claims if isinstance(claims, Mapping) and claims else None


BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT from the issuer (locally: `eventfold token --role ROLE --subject ID`).",
)
"""The security scheme routes that take a caller declare in the OpenAPI document
(:func:`document_callers`). Not a dependency: solved as one, with the route's caller
depending on it, it cost 18 us of each request (bench/dependency_cost.py); the token is
read from the header as it reads it (:func:`bearer_token`)."""


def bearer_token(scope: Mapping[str, Any]) -> str | None:
    """The token of the request's ``Authorization: Bearer <token>`` header, read as
    FastAPI's ``HTTPBearer`` reads it (the first such header; another scheme, or none:
    None)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


async def authenticated(request: Request) -> Actor:
    authentication: Authentication = request.app.state.authentication
    return authentication.actor(request.scope, bearer_token(request.scope))


Caller = Annotated[Actor, Depends(authenticated)]
"""A route parameter: the authenticated caller (401 problem+json when there is none)."""


async def public() -> None:
    """Marks a route that anyone may call (it is listed as such in the service's policy).
    ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, which cost every
    public request (``/healthz``, the stock page) a hop there and back: 190 -> 51 us
    in-process for ``GET /healthz``."""


PUBLIC = Depends(public)
"""``dependencies=[PUBLIC]`` on a route that needs no caller."""


def require_role(actor: Actor, *roles: str) -> None:
    """Forbidden unless ``actor`` has one of ``roles``."""
    if not any(actor.has(r) for r in roles):
        raise Forbidden(f"this needs the role {' or '.join(roles)}")


IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        min_length=1,
        max_length=200,
        description="A client-chosen id of this command: a retry with the same key (and "
        "the same request) returns the first outcome instead of running the command twice. "
        "Keys are per caller: other callers' keys never collide with yours.",
    ),
]
"""A route parameter: the optional ``Idempotency-Key`` header."""


async def command_origin(request: Request, actor: Caller, key: IdempotencyKey = None) -> Origin:
    """The :class:`Origin` of a command route's request: the caller, and with an
    Idempotency-Key the command id scoped to that caller and operation, plus a digest of
    what was sent (method, path, body) to tell a retry from a reuse of the key. The caller
    is a sub-dependency, so it is authenticated before the key's checks run: a request
    without a valid token is a 401 whatever else is wrong with it."""
    if key is None:
        return Origin(actor)
    route = request.scope.get("route")
    operation = f"{request.method} {getattr(route, 'path', request.url.path)}"
    body = await request.body()
    digest = fingerprint(request.method, request.url.path, _canonical(body))
    return Origin(
        actor,
        command_id=client_command_id(actor, operation, key),
        request_digest=digest,
        idempotency_key=key,
    )


def _canonical(body: bytes) -> Any:
    """The body as JSON data (key order and spacing don't make another request)."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.hex()


CommandOrigin = Annotated[Origin, Depends(command_origin)]
"""A command route's parameter: who sends the command and its idempotency (see
:func:`command_origin`)."""


def takes_caller(dependant: Dependant) -> bool:
    """Whether a route (its ``dependant``) authenticates its caller, at any depth."""
    return any(sub.call is authenticated or takes_caller(sub) for sub in dependant.dependencies)


def document_callers(app: FastAPI) -> None:
    """Declare :data:`BEARER` in ``app``'s OpenAPI document, and as the security of every
    operation whose route takes a caller (what FastAPI writes for a ``Security``
    dependency, which these routes no longer solve per request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached by it: the changes below are idempotent
        scheme = jsonable_encoder(BEARER.model, by_alias=True, exclude_none=True)
        secured = False
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute) or not takes_caller(route.dependant):
                continue
            operations = schema.get("paths", {}).get(route.path_format or "", {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is not None:
                    wanted: dict[str, list[str]] = {BEARER.scheme_name: []}
                    security = operation.setdefault("security", [])
                    if wanted not in security:  # another scheme it declares stays
                        security.append(wanted)
                    secured = True
        if secured:
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {})[BEARER.scheme_name] = scheme
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way
