"""schemathesis on the mounted app's own OpenAPI document: the three reference services
as ``eventfold run`` composes them (the router running beside, so read-your-writes waits
end), a bounded number of generated requests per operation.

Checked: no 5xx; every response matches the schema; a request the schema allows is not
refused, except by a business answer (404, 409, and the 422 of an Idempotency-Key reused
for another command); a request the schema refuses is a 4xx problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from catalog.service import service as catalog
from eventfold import SqliteEventStore
from eventfold.entry.composition import context_on, router_runner
from eventfold.entry.settings import load_settings
from eventfold.entry.telemetry import Telemetry
from eventfold.testing import TokenIssuer
from eventfold.web import create_app, migrate_query_model
from reservations.service import service as reservations
from restaurant.service import service as restaurant
from tests.examples.callers import every_role

pytestmark = pytest.mark.slow

BUSINESS_REFUSALS = {"urn:eventfold:problem:idempotency-key-reused"}
"""Problem types a valid request may get besides 404 and 409: answers about the server's
state, not about the request's shape."""
UNSAYABLE_REFUSALS = {("query.cursor", "cursor_invalid"), ("query.wait_for", "missing")}
"""The (path, code) issues of the 422s no OpenAPI schema can rule out, each stated in its
parameter's description: a cursor this API did not return, min_version on a list without
wait_for (parameters cannot depend on each other in OpenAPI)."""


@pytest.fixture
def auth_headers(token_issuer: TokenIssuer) -> dict[str, str]:
    """Every generated request carries a valid token holding every role (customer c1, staff
    of the test stores, support, inventory, operator), so that what the policy refuses is
    only what no role of that caller may do (another customer's id, another store)."""
    return every_role(token_issuer)


@pytest.fixture
def api(tmp_path: Path, token_issuer: TokenIssuer) -> Iterator[Any]:
    services = [reservations, restaurant, catalog]
    # As `eventfold run` composes them: the local mail sink (on a free port) and the router.
    environ = {
        "EVENTFOLD_HOME": str(tmp_path),
        "EVENTFOLD_READ_WAIT": "2",
        "EVENTFOLD_DURABILITY": "off",
    }
    settings_ = load_settings(environ)
    store = SqliteEventStore(settings_.database_path, durability="off")
    context = context_on(store, settings_)
    migrate_query_model(services, context)
    runners = [
        router_runner(settings_, services, context, Telemetry()),
    ]
    app = create_app(services, context, authentication=token_issuer.authentication, runners=runners)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    store.close()


EXAMPLES = 20
"""Generated requests per operation and mode (positive, negative): the whole test stays
under a minute on 2 CPUs."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def refused_valid_request(case: Any, response: Any) -> str | None:
    """Why a response refuses a request the schema allows, if it does."""
    status = response.status_code
    if not 400 <= status < 500 or status in (403, 404, 409):
        return None  # 403: the policy's answer about the caller, not about the request
    problem = response.json()
    if problem.get("type") in BUSINESS_REFUSALS:
        return None
    if {(i["path"], i["code"]) for i in problem.get("issues", ())} <= UNSAYABLE_REFUSALS:
        return None
    return (
        f"the schema allows {case.method} {case.formatted_path} query={case.query} "
        f"body={case.body!r}, the server answered {status} {response.text}"
    )


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        if mode is GenerationMode.NEGATIVE and "" in (case.query or {}):
            # A query parameter without a name (`?=false`) is ignored, like any parameter
            # the route does not declare; it does not make a request invalid.
            return
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if mode is GenerationMode.POSITIVE:
            reason = refused_valid_request(case, response)
            assert reason is None, reason

    run()


def test_the_api_answers_what_its_schema_says(api: Any, auth_headers: dict[str, str]) -> None:
    failures: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, auth_headers)
            except Unsatisfiable:
                pass  # no request breaks the schema of an operation with no inputs
            except Exception as exc:  # every operation is tried; all failures reported
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
