"""Authentication: claims to actors, an issuer's JWKS (with key rotation), API Gateway's
verified claims, and the local key pair."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Request
from fastapi.security import HTTPBearer
from hypothesis import given
from hypothesis import strategies as st

from eventfold import Actor, IssuerUnavailable, SqliteEventStore, Unauthenticated
from eventfold.entry.http.callers import (
    Authentication,
    ClaimNames,
    LocalSigningKey,
    bearer_token,
    jwks_verifier,
)
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app, installed_services

ISSUER = "https://issuer.example"
AUDIENCE = "reservations-api"


@pytest.mark.parametrize(
    ("roles", "wanted"),
    [
        ("support", {"support"}),
        (["staff", "support"], {"staff", "support"}),
        ("[staff support]", {"staff", "support"}),  # API Gateway's rendering of a list claim
        ("staff,support", {"staff", "support"}),
    ],
)
def test_roles_come_from_a_string_or_a_list(roles: Any, wanted: set[str]) -> None:
    names = ClaimNames(roles="cognito:groups", stores="custom:stores")
    claims = {"sub": "u-1", "cognito:groups": roles, "custom:stores": "[s1 s2]"}
    assert names.actor(claims) == Actor.of("u-1", wanted, ["s1", "s2"])


@pytest.mark.parametrize("claims", [{"role": "customer"}, {"sub": "u-1"}, {"sub": "", "role": "x"}])
def test_a_token_without_subject_or_role_is_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated):
        ClaimNames().actor(claims)


# -- an issuer's JWKS -------------------------------------------------------------------------


class Issuer:
    """An OIDC-like issuer on loopback: ES256 keys by kid, published as a JWKS."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.fetches = 0
        self.up = True

    def rotate(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> bytes:
        found = []
        for kid, key in self.keys.items():
            public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            found.append({**public, "kid": kid, "alg": "ES256", "use": "sig"})
        return json.dumps({"keys": found}).encode()

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "sub": "u-1", "role": "staff"}
        return jwt.encode({**body, **claims}, self.keys[kid], "ES256", headers={"kid": kid})


@pytest.fixture
def issuer() -> Iterator[tuple[Issuer, str]]:
    state = Issuer()
    state.rotate("k1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not state.up:
                self.send_response(503)
                self.end_headers()
                return
            state.fetches += 1
            body = state.jwks()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def test_jwks_keys_are_cached_and_fetched_again_for_a_new_kid(issuer: tuple[Issuer, str]) -> None:
    state, url = issuer
    verify = jwks_verifier(url, issuer=ISSUER, audience=AUDIENCE, refetch_after=0)
    assert verify(state.token("k1"))["sub"] == "u-1"
    assert verify(state.token("k1", sub="u-2"))["sub"] == "u-2"
    assert state.fetches == 1  # cached
    state.rotate("k2")  # the issuer rotates its keys
    assert verify(state.token("k2"))["sub"] == "u-1"
    assert state.fetches == 2


def test_a_jwks_token_must_be_the_issuers_and_for_this_audience(
    issuer: tuple[Issuer, str],
) -> None:
    state, url = issuer
    verify = jwks_verifier(url, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(Unauthenticated, match="audience"):
        verify(state.token("k1", aud="another-api"))
    with pytest.raises(Unauthenticated, match="issued by"):
        verify(state.token("k1", iss="https://evil.example"))
    forged = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "sub": "u-1", "role": "staff"}
    with pytest.raises(Unauthenticated, match="signature"):
        verify(jwt.encode(body, forged, "ES256", headers={"kid": "k1"}))
    with pytest.raises(Unauthenticated, match="key is not the issuer's"):
        verify(jwt.encode(body, forged, "ES256", headers={"kid": "unknown"}))


def test_an_unreachable_issuer_is_unavailable_not_unauthenticated(
    issuer: tuple[Issuer, str],
) -> None:
    state, url = issuer
    state.up = False
    verify = jwks_verifier(url, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(IssuerUnavailable):
        verify(state.token("k1"))


# -- API Gateway's verified claims ----------------------------------------------------------


def refuse(token: str) -> dict[str, Any]:
    raise Unauthenticated("no token is verified here")


def test_api_gateway_claims_are_used_without_verifying_again() -> None:
    authentication = Authentication(refuse, ClaimNames(roles="cognito:groups"))
    event = {
        "requestContext": {
            "authorizer": {"jwt": {"claims": {"sub": "u-9", "cognito:groups": "[support]"}}}
        }
    }
    assert authentication.actor({"aws.event": event}, None) == Actor.of("u-9", ["support"])
    # Without the gateway's claims the bearer token is verified (here: refused).
    with pytest.raises(Unauthenticated, match="verified here"):
        authentication.actor({"aws.event": {"requestContext": {}}}, "some.token.here")
    with pytest.raises(Unauthenticated, match="no bearer token"):
        authentication.actor({}, None)


def test_claims_from_a_rest_api_cognito_authorizer_are_used_too() -> None:
    authentication = Authentication(refuse)
    event = {"requestContext": {"authorizer": {"claims": {"sub": "u-3", "role": "operator"}}}}
    assert authentication.actor({"aws.event": event}, None).has("operator")


# -- the local key ----------------------------------------------------------------------------


def test_the_local_key_is_made_once_and_shared(tmp_path: Path) -> None:
    first = LocalSigningKey.in_home(tmp_path / "home")
    again = LocalSigningKey.in_home(tmp_path / "home")
    assert first.pem() == again.pem()
    assert (tmp_path / "home" / "token-signing-key.pem").stat().st_mode & 0o777 == 0o600
    token = first.sign("c-1", ["customer"], ["s1"])
    claims = again.verifier()(token)
    assert (claims["sub"], claims["role"], claims["stores"]) == ("c-1", "customer", ["s1"])


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    key = LocalSigningKey.generate()
    calls: list[str] = []
    verify = key.verifier()

    def counting(token: str) -> Any:
        calls.append(token)
        return verify(token)

    now = [time.time()]
    authentication = Authentication(counting, clock=lambda: now[0])
    token = key.sign("c-1", ["customer"], ttl=60)
    assert authentication.actor_of_token(token) == authentication.actor_of_token(token)
    assert len(calls) == 1
    now[0] += 120  # past its expiry (on the cache's clock): verified again
    authentication.actor_of_token(token)
    assert len(calls) == 2


# -- the token from the header, and the OpenAPI document ----------------------------------


header_values = st.lists(
    st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", " ", "  ", "x", ".", "\t"]), max_size=5
).map("".join)


@given(values=st.lists(header_values, max_size=2))
def test_the_token_is_read_as_fastapis_http_bearer_reads_it(values: list[str]) -> None:
    headers = [(b"authorization", v.encode("latin-1")) for v in values]
    scope = {"type": "http", "headers": [(b"host", b"x"), *headers]}
    theirs = asyncio.run(HTTPBearer(auto_error=False)(Request(scope)))
    assert bearer_token(scope) == (theirs.credentials if theirs else None)


def test_the_openapi_document_declares_the_bearer_scheme_where_a_caller_is_taken(
    store: SqliteEventStore,
) -> None:
    issuer = TokenIssuer()
    app = create_app(
        installed_services(), ServiceContext(store), authentication=issuer.authentication
    )
    schema = app.openapi()
    paths = schema["paths"]
    assert paths["/reservations"]["post"]["security"] == [{"bearer": []}]  # CommandOrigin
    assert paths["/reservations/{reservation_id}"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in paths["/healthz"]["get"]  # public
    assert "security" not in paths["/stores/{store_id}/stock/{sku}"]["get"]  # public
    key = [p for p in paths["/reservations"]["post"]["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in key] == ["Idempotency-Key"]
    scheme = schema["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert app.openapi() == copy.deepcopy(schema)  # a second call changes nothing
