"""The Lambda -> Lambda variant: the target's Invoke requests on moto, and the consumer's
handler (``router_handlers(...).lambda_invocation``) given shuffled, duplicated payloads."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eventfold import DeliveryFailed, RecordedEvent, SqliteEventStore
from eventfold.adapters.aws.lambda_target import (
    event_of_invocation,
    invocation_payload,
    lambda_target,
)
from eventfold.adapters.protobuf.outbound import OutboundFormat
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.entry.aws_lambda import router_handlers
from eventfold.errors import CodecError
from eventfold.targets import MemoryEffectsLedger, Reaction
from tests.aws_support.moto_server import MotoAws
from tests.contracts.target import CODEC, TargetContract, Tick, Unhandled, recorded
from tests.eventfold.adapters.aws.invocation_support import create_function, recording_lambda_client
from tests.eventfold.adapters.aws.messaging_support import happened_codec
from tests.eventfold.core.router.targets import SqliteTarget, TrackingSqliteTarget, fill

pytestmark = pytest.mark.aws


@dataclass(frozen=True)
class Noted:
    """The consumer's effect: it noted version ``version`` of ``stream_id``."""

    key: str
    stream_id: str
    version: int


class Notebook:
    """Performs Noted effects by keeping them, with the idempotency key they came with."""

    def __init__(self) -> None:
        self.noted: list[tuple[Noted, str]] = []

    def __call__(self, effect: Noted, idempotency_key: str) -> None:
        self.noted.append((effect, idempotency_key))

    def by_stream(self) -> dict[str, list[int]]:
        streams: dict[str, list[int]] = {}
        for effect, _ in self.noted:
            streams.setdefault(effect.stream_id, []).append(effect.version)
        return streams


def noting_reaction(notebook: Notebook) -> Reaction:
    """A consumer's reaction to Tick events (other types pass by), through a ledger."""

    def note(_: Tick, recorded: RecordedEvent) -> list[Noted]:
        return [Noted("noted", recorded.stream_id, recorded.version)]

    return Reaction("consumer", CODEC, {Tick: note}, {Noted: notebook}, MemoryEffectsLedger())


class TestLambdaTargetWithItsConsumerIsATarget(TargetContract):
    """The target and the consumer's handler together: an effect per event, once."""

    @pytest.fixture
    def notebook(self) -> Notebook:
        return Notebook()

    @pytest.fixture
    def target(self, aws: MotoAws) -> Any:
        function = create_function(aws)
        client, sent = recording_lambda_client(aws)
        self.sent = sent
        return lambda_target(client, function, CODEC, name="to-consumer")

    @pytest.fixture
    def observed(
        self, store: SqliteEventStore, tmp_path: Path, notebook: Notebook
    ) -> Callable[[], dict[str, list[int]]]:
        state = SqliteRouterState(tmp_path / "consumer.db", durability="off")
        handlers = router_handlers(
            [Subscription("consumer", noting_reaction(notebook))],
            store,
            versions=state,
            parking=state,
        )
        handled = 0

        def seen() -> dict[str, list[int]]:
            nonlocal handled
            for payload in self.sent.payloads[handled:]:
                handlers.lambda_invocation(payload, None)
            handled = len(self.sent.payloads)
            return notebook.by_stream()

        return seen


def test_each_event_is_one_asynchronous_invocation_with_key_and_envelope(
    aws: MotoAws, store: SqliteEventStore
) -> None:
    function = create_function(aws)
    client, sent = recording_lambda_client(aws)
    fill(store, {"order-1": 2})
    events = store.read_all(0, 10)
    lambda_target(client, function, happened_codec(), name="to-billing").apply(events)

    assert [kind for kind, _ in sent.requests] == ["Event", "Event"]
    first = sent.payloads[0]
    assert (first["stream_id"], first["version"]) == ("order-1", 1)
    assert first["idempotency_key"] == "to-billing/order-1:1"
    assert first["attributes"]["content_type"] == "application/json"
    back = event_of_invocation(first)
    assert back.key == "order-1:1"
    assert happened_codec().decode(back) == happened_codec().decode(events[0])


def test_the_consumer_reaches_the_ordered_state_from_shuffled_duplicated_invocations(
    aws: MotoAws, store: SqliteEventStore, tmp_path: Path
) -> None:
    function = create_function(aws)
    client, sent = recording_lambda_client(aws)
    streams = {f"order-{n}": 1 + n % 4 for n in range(8)}
    fill(store, streams)
    lambda_target(client, function, happened_codec()).apply(store.read_all(0, 1000))
    payloads = sent.payloads + random.Random(3).sample(sent.payloads, k=8)
    random.Random(5).shuffle(payloads)

    consumer = TrackingSqliteTarget(tmp_path / "consumer.db")
    state = SqliteRouterState(tmp_path / "router.db", durability="off")
    handlers = router_handlers(
        [Subscription("consumer", consumer)], store, versions=state, parking=state
    )
    answers = [handlers.lambda_invocation(payload, None) for payload in payloads]

    assert consumer.by_stream() == {s: list(range(1, n + 1)) for s, n in streams.items()}
    assert {answer["done"] for answer in answers} == {e.key for e in store.read_all(0, 1000)}


def test_an_invocation_whose_work_is_not_done_raises_so_lambda_retries_it(
    store: SqliteEventStore, tmp_path: Path
) -> None:
    fill(store, {"order-1": 1})
    (event,) = store.read_all(0, 10)

    payload = invocation_payload(happened_codec(), event, OutboundFormat.JSON, "k")

    class Broken(SqliteRouterState):
        def record_applied(self, subscription: str, versions: Any) -> None:
            raise OSError("router state unavailable")

    state = Broken(tmp_path / "router.db", durability="off")
    consumer = SqliteTarget(tmp_path / "consumer.db")  # its versions live in router state
    handlers = router_handlers(
        [Subscription("consumer", consumer)], store, versions=state, parking=state
    )

    with pytest.raises(DeliveryFailed, match="order-1:1 not done"):
        handlers.lambda_invocation(json.loads(payload), None)
    with pytest.raises(CodecError):
        handlers.lambda_invocation({"stream_id": "order-1", "version": 1}, None)


def test_a_payload_naming_another_event_than_it_carries_is_refused(
    store: SqliteEventStore,
) -> None:
    fill(store, {"order-1": 1})
    (event,) = store.read_all(0, 10)

    payload = json.loads(invocation_payload(happened_codec(), event, OutboundFormat.JSON, "k"))
    payload["version"] = 2
    with pytest.raises(CodecError, match="names order-1:2 but carries order-1:1"):
        event_of_invocation(payload)


def test_an_oversized_payload_parks_instead_of_invoking(aws: MotoAws) -> None:
    function = create_function(aws)
    client, sent = recording_lambda_client(aws)

    big = recorded("tick-a", 1, Unhandled("x" * 300_000))
    with pytest.raises(DeliveryFailed, match="limit is 262144") as failed:
        lambda_target(client, function, CODEC).apply([big])
    assert failed.value.retryable is False
    assert sent.requests == []
