"""Access control of the three reference services: every route x every role, over real HTTP
(uvicorn on a loopback port) with real tokens, as ``reservations.policy`` and the restaurant
and catalog policies say. Allowed means the policy let the call through: the answer is the
route's own (2xx, or a business 409 such as "not due yet"), never 401/403 and never the
404 that hides a reservation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from prometheus_client import CollectorRegistry

from eventfold import SqliteEventStore
from eventfold.entry.composition import router_runner
from eventfold.entry.http.callers import LOCAL_AUDIENCE, LOCAL_ISSUER
from eventfold.entry.settings import load_settings
from eventfold.entry.telemetry import Telemetry
from eventfold.testing import TokenIssuer
from eventfold.web import ServiceContext, create_app, installed_services, migrate_query_model
from tests.eventfold.entry.http.live import served

ALLOWED = "allowed"
CALLERS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # name: (subject, roles, stores)
    "owner": ("c1", ("customer",), ()),
    "other customer": ("c2", ("customer",), ()),
    "staff of s1": ("clerk-1", ("staff",), ("s1",)),
    "staff of s2": ("clerk-2", ("staff",), ("s2",)),
    "support": ("agent-1", ("support",), ()),
    "inventory": ("feed-1", ("inventory",), ()),
    "operator": ("ops-1", ("operator",), ()),
}
ANONYMOUS = "anonymous"
EVERYONE = [ANONYMOUS, *CALLERS]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("access")


@pytest.fixture(scope="module")
def issuer(home: Path) -> TokenIssuer:
    """Tokens signed with the home's key, as `eventfold token` signs them."""
    return TokenIssuer.of_home(home)


@pytest.fixture(scope="module")
def base_url(home: Path, issuer: TokenIssuer) -> Iterator[str]:
    settings = load_settings({"EVENTFOLD_HOME": str(home), "EVENTFOLD_DURABILITY": "off"})
    store = SqliteEventStore(settings.database_path, durability="off")
    context = ServiceContext(store, read_wait=5.0)
    services = installed_services()
    migrate_query_model(services, context)
    app = create_app(
        services,
        context,
        authentication=issuer.authentication,
        runners=[router_runner(settings, services, context, Telemetry())],
        metrics=CollectorRegistry(),
    )
    with served(app) as (host, port):
        yield f"http://{host}:{port}"
    store.close()


class Api:
    def __init__(self, base_url: str, issuer: TokenIssuer) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.issuer = issuer

    def headers(self, caller: str) -> dict[str, str]:
        if caller == ANONYMOUS:
            return {}
        subject, roles, stores = CALLERS[caller]
        return self.issuer.headers(subject, *roles, stores=stores)

    def call(self, caller: str, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, path, json=body, headers=self.headers(caller))

    def stock(self) -> None:
        """Plenty of sku1 at store s1, in the query model too."""
        stocked = self.call("inventory", "PUT", "/stores/s1/stock/sku1", {"on_hand": 10**6})
        assert stocked.status_code == 200, stocked.text
        version = stocked.json()["version"]
        seen = self.call(ANONYMOUS, "GET", f"/stores/s1/stock/sku1?min_version={version}")
        assert seen.status_code == 200, seen.text

    def reservation(self) -> str:
        """A fresh reservation of customer c1 at store s1."""
        body = {"store_id": "s1", "sku": "sku1", "quantity": 1}
        placed = self.call("owner", "POST", "/reservations", body)
        assert placed.status_code == 201, placed.text
        rid = str(placed.json()["reservation_id"])
        seen = self.call("owner", "GET", f"/reservations/{rid}?min_version=1")
        assert seen.status_code == 200, seen.text  # the query model has it
        return rid


@pytest.fixture(scope="module")
def api(base_url: str, issuer: TokenIssuer) -> Api:
    made = Api(base_url, issuer)
    # Stocked here, once per server: any case may be the first one pytest-xdist runs on its
    # worker (with its own server); the public stock read answered 404 when it was.
    made.stock()
    return made


def outcome(response: httpx.Response) -> str:
    status = response.status_code
    if status in (401, 403, 404):
        assert response.headers["content-type"] == "application/problem+json", response.text
        if status == 401:
            assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        return str(status)
    assert status in (200, 201, 409), response.text  # the route's own answer
    return ALLOWED


def expect(
    allowed: set[str], hidden: set[str] | None = None, public: bool = False
) -> dict[str, str]:
    """The expected outcome per caller: ``allowed``; ``hidden`` get 404; anonymous 401 (or
    allowed when ``public``); everyone else 403."""
    wanted = {}
    for caller in EVERYONE:
        if public or caller in allowed:
            wanted[caller] = ALLOWED
        elif caller == ANONYMOUS:
            wanted[caller] = "401"
        elif caller in (hidden or set()):
            wanted[caller] = "404"
        else:
            wanted[caller] = "403"
    return wanted


NOT_ITS_PEOPLE = {"other customer", "staff of s2", "inventory", "operator"}
"""Who may not see c1's reservation at store s1: they get 404 for it, as for no such id."""

RESERVATION_ROUTES: list[tuple[str, str, Any, dict[str, str]]] = [
    # method, path ({rid}: a fresh reservation of c1 at s1), body, expected
    (
        "PUT",
        "/stores/s1/stock/sku1",
        {"on_hand": 10**6},
        expect({"inventory", "staff of s1"}),
    ),
    (
        "POST",
        "/reservations",
        {"store_id": "s1", "sku": "sku1", "quantity": 1},
        expect({"owner", "other customer"}),
    ),
    (
        "POST",
        "/reservations",
        {"customer_id": "c1", "store_id": "s1", "sku": "sku1", "quantity": 1},
        expect({"owner"}),
    ),
    ("POST", "/reservations/{rid}/secure", None, expect({"staff of s1"}, NOT_ITS_PEOPLE)),
    (
        "POST",
        "/reservations/{rid}/reject",
        {"reason": "damaged"},
        expect({"staff of s1"}, NOT_ITS_PEOPLE),
    ),
    ("POST", "/reservations/{rid}/pickup", None, expect({"staff of s1"}, NOT_ITS_PEOPLE)),
    (
        "POST",
        "/reservations/{rid}/cancel",
        {"reason": "changed plans"},
        expect({"owner", "staff of s1", "support"}, NOT_ITS_PEOPLE),
    ),
    (
        "POST",
        "/reservations/{rid}/expire",
        None,
        expect({"support", "operator"}, NOT_ITS_PEOPLE - {"operator"}),
    ),
    (
        "GET",
        "/reservations/{rid}",
        None,
        expect(
            {"owner", "staff of s1", "support"}, set(CALLERS) - {"owner", "staff of s1", "support"}
        ),
    ),
    ("GET", "/customers/c1/reservations", None, expect({"owner", "support"})),
    ("GET", "/stores/s1/reservations", None, expect({"staff of s1", "support"})),
    ("GET", "/backoffice/reservations", None, expect({"support"})),
    ("GET", "/stores/s1/stock/sku1", None, expect(set(), public=True)),
]

OTHER_ROUTES: list[tuple[str, str, Any, dict[str, str]]] = [
    (
        "POST",
        "/restaurants",
        {"name": "Sushi Dai"},
        expect({"staff of s1", "staff of s2", "operator"}),
    ),
    ("GET", "/restaurants", None, expect(set(), public=True)),
    (
        "POST",
        "/catalog/items",
        {"name": "Tote bag", "price": 3300},
        expect({"inventory", "operator"}),
    ),
    ("GET", "/catalog/items", None, expect(set(), public=True)),
    ("GET", "/metrics", None, expect({"operator"})),
    ("GET", "/healthz", None, expect(set(), public=True)),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "wanted"),
    RESERVATION_ROUTES + OTHER_ROUTES,
    ids=[f"{m} {p}" for m, p, _, _ in RESERVATION_ROUTES + OTHER_ROUTES],
)
def test_every_role_gets_what_the_policy_says(
    api: Api, method: str, path: str, body: Any, wanted: dict[str, str]
) -> None:
    got = {}
    for caller in EVERYONE:
        url = path.replace("{rid}", api.reservation()) if "{rid}" in path else path
        got[caller] = outcome(api.call(caller, method, url, body))
    assert got == wanted


def test_canceled_by_comes_from_the_callers_role(api: Api, base_url: str) -> None:
    for caller, recorded in [
        ("owner", "customer"),
        ("staff of s1", "staff"),
        ("support", "support"),
    ]:
        rid = api.reservation()
        response = api.call(caller, "POST", f"/reservations/{rid}/cancel", {"reason": "r"})
        assert response.status_code == 200, response.text
        version = response.json()["version"]
        seen = api.call("support", "GET", f"/reservations/{rid}?min_version={version}").json()
        assert seen["closed_by"] == recorded
    lying = api.call(
        "owner",
        "POST",
        f"/reservations/{api.reservation()}/cancel",
        {"canceled_by": "staff", "reason": "r"},
    )
    assert lying.status_code == 422  # the body cannot say who cancels


# -- bad tokens -----------------------------------------------------------------------------


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "iat": now, "exp": now + 600}
    claims.update({"sub": "c1", "role": "customer"}, **overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("expired", "expired"),
        ("wrong audience", "audience"),
        ("wrong issuer", "issued by"),
        ("wrong signature", "signature"),
        ("alg none", "signed with one of"),
        ("HS256 with the public key", "signed with one of"),
        ("malformed", "malformed"),
        ("no role", "'role'"),
        ("no subject", "'sub'"),
        ("missing", "no bearer token"),
    ],
)
def test_a_bad_token_is_401_with_a_reason(
    api: Api, issuer: TokenIssuer, name: str, reason: str
) -> None:
    key = issuer.key
    stranger = TokenIssuer()
    tokens = {
        "expired": key.sign("c1", ["customer"], ttl=1, now=time.time() - 100),
        "wrong audience": jwt.encode(_claims(aud="someone-else"), key._private, "RS256"),
        "wrong issuer": jwt.encode(_claims(iss="https://evil.example"), key._private, "RS256"),
        "wrong signature": stranger.token("c1", "customer"),
        "alg none": jwt.encode(_claims(), "", algorithm="none"),
        "HS256 with the public key": _hs256_with(key),
        "malformed": "not.a.jwt",
        "no role": jwt.encode(_claims(role=None), key._private, "RS256"),
        "no subject": jwt.encode(_claims(sub=None), key._private, "RS256"),
        "missing": "",
    }
    headers = {"Authorization": f"Bearer {tokens[name]}"} if tokens[name] else {}
    response = api.http.get("/customers/c1/reservations", headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert reason in response.json()["detail"]
    assert reason in challenge


def _hs256_with(key: Any) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the public key's PEM."""
    pem = key._public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(_claims()).encode())
    signature = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"
