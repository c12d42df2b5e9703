"""A tiny counter service for the entry-point tests: its own Decider and codec, routes
that run real commands on the store, and a route raising each error the HTTP layer maps."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from eventfold import (
    CommandHandler,
    ConfigurationError,
    Decider,
    EventTypes,
    InvalidCommand,
    JsonCodec,
    RuleViolated,
    SqliteEventStore,
    StoreUnavailable,
)
from eventfold.errors import CodecError, Issue, StoreError
from eventfold.testing import TokenIssuer
from eventfold.web import PUBLIC, CommandOrigin, Service, ServiceContext, create_app


@dataclass(frozen=True)
class Added:
    amount: int


@dataclass(frozen=True)
class Add:
    amount: int


@dataclass(frozen=True)
class Counter:
    total: int = 0


def decide(command: Add, state: Counter) -> Sequence[Added]:
    if command.amount <= 0:
        raise InvalidCommand(
            [
                Issue("amount", "must be positive", "too_small"),
                Issue("", "adding nothing is not a change", "no_change"),
            ]
        )
    if state.total + command.amount > 10:
        raise RuleViolated("a counter never exceeds 10", code="limit")
    return [Added(command.amount)]


counter = Decider("counter", Counter(), lambda s, e: Counter(s.total + e.amount), decide)
types = EventTypes()
types.register(Added)
codec = JsonCodec(types)


class AddBody(BaseModel):
    amount: int
    note: str = Field(max_length=5)
    tags: list[str] = []


class Version(BaseModel):
    version: int


def routes(context: ServiceContext) -> APIRouter:
    handler = CommandHandler(context.store, codec)
    router = APIRouter()

    @router.post("/counters/{counter_id}/add")
    def add(
        counter_id: str,
        body: AddBody,
        origin: CommandOrigin,
        expected_version: int | None = None,
    ) -> Version:
        outcome = handler.execute(
            counter,
            counter.stream_id(counter_id),
            Add(body.amount),
            origin,
            expected_version=expected_version,
            must_exist=expected_version is not None,
        )
        return Version(version=outcome.commit.versions[counter.stream_id(counter_id)])

    @router.post("/raise/{kind}", dependencies=[PUBLIC])
    def raise_(kind: str) -> None:
        errors: dict[str, Exception] = {
            "unavailable": StoreUnavailable("database is locked"),
            "configuration": ConfigurationError("EVENTFOLD_X is wrong: set it right"),
            "store": StoreError("disk I/O error at /secret/path"),
            "codec": CodecError("payload of secret-1:1 is not JSON"),
            "unexpected": RuntimeError("password=hunter2"),
        }
        raise errors[kind]

    return router


service = Service("counters", codec, ("counter",), routes, description="Counters that add up.")


@contextmanager
def counter_client(
    folder: Path,
    issuer: TokenIssuer,
    *,
    headers: dict[str, str] | None = None,
    **app_options: Any,
) -> Iterator[TestClient]:
    """The counter service's app (``create_app`` with ``app_options``) on a store in
    ``folder``, in a test client that answers an error of the app as the 500 it is."""
    store = SqliteEventStore(folder / "eventfold.db")
    try:
        app = create_app(
            [service], ServiceContext(store), authentication=issuer.authentication, **app_options
        )
        with TestClient(app, raise_server_exceptions=False, headers=headers) as client:
            yield client
    finally:
        store.close()
