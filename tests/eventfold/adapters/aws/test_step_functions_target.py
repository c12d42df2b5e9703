"""The Step Functions variant on moto: one execution per event, named after stream and
version, started once however often the event comes; what moto runs of it."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventfold import DeliveryFailed, RecordedEvent, SqliteEventStore
from eventfold.adapters.aws.step_functions_target import (
    MAX_EXECUTION_NAME,
    execution_input,
    execution_name,
    step_functions_target,
)
from tests.aws_support.moto_server import MotoAws
from tests.contracts.target import CODEC, TargetContract, Tick, Unhandled, recorded, ticks
from tests.eventfold.adapters.aws.invocation_support import (
    PASS_THROUGH,
    create_state_machine,
    executions,
    fresh_client,
    started_by_stream,
)
from tests.eventfold.adapters.aws.messaging_support import happened_codec
from tests.eventfold.core.router.targets import fill

FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def event_at(stream_id: str, version: int) -> RecordedEvent:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return RecordedEvent(stream_id, version, "Tick", b"{}", 1, {}, at)


@given(st.text(min_size=1, max_size=300), st.integers(min_value=1, max_value=10**15))
def test_execution_names_are_valid_step_functions_names(stream_id: str, version: int) -> None:
    name = execution_name(event_at(stream_id, version))
    assert 1 <= len(name) <= MAX_EXECUTION_NAME
    assert FORBIDDEN.search(name) is None
    assert name.isascii()


@given(
    st.tuples(st.text(min_size=1, max_size=120), st.integers(1, 10**6)),
    st.tuples(st.text(min_size=1, max_size=120), st.integers(1, 10**6)),
)
def test_different_events_get_different_names(a: tuple[str, int], b: tuple[str, int]) -> None:
    if a != b:
        assert execution_name(event_at(*a)) != execution_name(event_at(*b))


def test_plain_stream_ids_read_as_they_are() -> None:
    assert execution_name(event_at("reservation-r-42", 3)) == "reservation-r-42.3"
    lookalike = execution_name(event_at("reservation r-42", 3))
    assert lookalike.startswith("reservation_r-42.3.h")
    too_long = execution_name(event_at("x" * 100, 7))
    assert len(too_long) == MAX_EXECUTION_NAME
    assert re.fullmatch(r"x+\.7\.h[0-9a-f]{16}", too_long)


@pytest.mark.aws
class TestStepFunctionsTargetIsATarget(TargetContract):
    """Observed: the executions that exist, per stream, in the order they were started."""

    @pytest.fixture
    def target(self, aws: MotoAws) -> Any:
        self.aws = aws
        self.machine = create_state_machine(aws, PASS_THROUGH)
        client = fresh_client(aws, "stepfunctions")
        self.started: list[str] = []

        def started(parsed: dict[str, Any], **_: Any) -> None:
            if "executionArn" in parsed:  # not an ExecutionAlreadyExists
                self.started.append(parsed["executionArn"])

        client.meta.events.register("after-call.sfn.StartExecution", started)
        return step_functions_target(client, self.machine, CODEC, only={Tick})

    @pytest.fixture
    def observed(self) -> Any:
        def seen() -> dict[str, list[int]]:
            first_start = {arn: self.started.index(arn) for arn in reversed(self.started)}
            found = sorted(
                executions(self.aws, self.machine), key=lambda e: first_start[e["executionArn"]]
            )
            streams: dict[str, list[int]] = {}
            for execution in found:
                envelope = json.loads(execution["input"])
                streams.setdefault(envelope["stream_id"], []).append(envelope["version"])
            return streams

        return seen


@pytest.mark.aws
def test_each_event_starts_one_execution_with_its_envelope_as_input(
    aws: MotoAws, store: SqliteEventStore
) -> None:
    machine = create_state_machine(aws, PASS_THROUGH)
    fill(store, {"order-1": 2, "order-2": 1})
    events = store.read_all(0, 10)
    target = step_functions_target(aws.client("stepfunctions"), machine, happened_codec())
    target.apply(events)
    target.apply(events)  # a redelivery: the same names and inputs, nothing new

    found = {e["name"]: json.loads(e["input"]) for e in executions(aws, machine)}
    assert sorted(found) == ["order-1.1", "order-1.2", "order-2.1"]
    assert found["order-1.2"]["happened"] == {"v": 2}
    assert (found["order-1.2"]["stream_id"], found["order-1.2"]["version"]) == ("order-1", 2)


@pytest.mark.aws
def test_a_closed_execution_with_the_same_input_counts_as_done(aws: MotoAws) -> None:
    machine = create_state_machine(aws, PASS_THROUGH)
    sfn = aws.client("stepfunctions")
    event = ticks("tick-a", 1, 1)
    step_functions_target(sfn, machine, CODEC).apply(event)
    (first,) = executions(aws, machine)
    sfn.stop_execution(executionArn=first["executionArn"])  # closed: AWS now refuses the name
    step_functions_target(sfn, machine, CODEC).apply(event)
    assert len(executions(aws, machine)) == 1


@pytest.mark.aws
def test_a_name_taken_with_another_input_parks_the_stream(aws: MotoAws) -> None:
    machine = create_state_machine(aws, PASS_THROUGH)
    sfn = aws.client("stepfunctions")
    event = ticks("tick-a", 1, 1)
    sfn.start_execution(stateMachineArn=machine, name=execution_name(event[0]), input="{}")
    with pytest.raises(DeliveryFailed, match="exists with another input") as failed:
        step_functions_target(sfn, machine, CODEC).apply(event)
    assert failed.value.retryable is False


@pytest.mark.aws
def test_an_oversized_input_parks_instead_of_starting(aws: MotoAws) -> None:
    machine = create_state_machine(aws, PASS_THROUGH)
    big = recorded("tick-a", 1, Unhandled("x" * 300_000))
    with pytest.raises(DeliveryFailed, match="limit is 262144"):
        step_functions_target(aws.client("stepfunctions"), machine, CODEC).apply([big])
    assert executions(aws, machine) == []


@pytest.mark.aws
def test_moto_runs_the_execution_and_the_envelope_arrives_as_its_input(aws: MotoAws) -> None:
    """With moto's state machine execution on, the pass-through machine's output is the
    input the target gave it: the event's envelope."""
    aws.configure({"stepfunctions": {"execute_state_machine": True}})
    try:
        machine = create_state_machine(aws, PASS_THROUGH, name="echo")
        sfn = aws.client("stepfunctions")
        event = ticks("tick-a", 1, 1)
        step_functions_target(sfn, machine, CODEC).apply(event)
        (execution,) = executions(aws, machine)
        deadline = time.monotonic() + 10
        while execution["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
            execution = sfn.describe_execution(executionArn=execution["executionArn"])
        step_functions_target(sfn, machine, CODEC).apply(event)  # done: no second one
        assert started_by_stream(aws, machine) == {"tick-a": [1]}
    finally:
        aws.configure({"stepfunctions": {"execute_state_machine": False}})
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == json.loads(execution_input(CODEC, event[0]))
