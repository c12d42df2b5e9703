"""The reservation saga as Amazon States Language
(``examples/reservations/stepfunctions/reservation_saga.asl.json``): its graph, its retries
and compensations, cfn-lint's state machine schema, and moto's CreateStateMachine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from tests.aws_support.moto_server import MotoAws

EXAMPLES = Path(__file__).parents[3] / "examples"
DEFINITION = EXAMPLES / "reservations" / "stepfunctions" / "reservation_saga.asl.json"
SUBSTITUTIONS = {
    "PartnerUrl": "https://inventory.example",
    "PartnerConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/inventory/1",
    "ReservationsUrl": "https://reservations.example",
    "ReservationsConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/reservations/2",
    "HoldsTable": "reservation-holds",
    "MailFrom": "reservations@shop.example",
    "CustomerMailDomain": "customers.example",
}
COMPENSATIONS = ("ReleaseHoldBeforeRejecting", "RejectReservation", "EmailCustomer")
"""What undoes an accepted reservation, in the order it runs (reverse of the steps)."""


def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION.read_text())
    return loaded


def substituted() -> str:
    """The definition as CloudFormation's DefinitionSubstitutions would make it."""
    text = DEFINITION.read_text()
    for name, value in SUBSTITUTIONS.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text, "a placeholder without a substitution"
    return text


def targets(state: dict[str, Any]) -> Iterator[str]:
    """Every state ``state`` may go to next."""
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def reachable(states: dict[str, Any], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(targets(states[name]))
    return seen


def test_every_transition_names_a_state_and_every_state_is_reachable() -> None:
    asl = definition()
    states = asl["States"]
    assert asl["StartAt"] in states
    for name, state in states.items():
        for target in targets(state):
            assert target in states, f"{name} goes to {target}, which does not exist"
        ends = state["Type"] in {"Succeed", "Fail", "Choice"} or state.get("End") is True
        assert ends or "Next" in state, f"{name} neither ends nor goes on"
    assert reachable(states, asl["StartAt"]) == set(states)


def test_every_task_retries_transient_failures_and_catches_the_rest() -> None:
    for name, state in definition()["States"].items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"task {name} has no Retry"
        assert all(r["MaxAttempts"] >= 1 for r in state["Retry"]), name
        catchers = state.get("Catch", [])
        assert any("States.ALL" in c["ErrorEquals"] for c in catchers), f"{name} catches not all"
        assert "States.ALL" not in {e for r in state["Retry"] for e in r["ErrorEquals"]}, (
            f"task {name} retries everything, refusals too"
        )


def test_a_refusal_or_a_failure_of_the_hold_leads_to_the_compensations_in_reverse() -> None:
    states = definition()["States"]
    catchers = {c["Next"]: c["ErrorEquals"] for c in states["PlaceHold"]["Catch"]}
    assert "States.Http.StatusCode.409" in catchers["PartnerRefused"]
    assert catchers["PartnerFailed"] == ["States.ALL"]
    for start in ("PartnerRefused", "PartnerFailed"):
        assert states[start]["Next"] == "RejectReservation"
    # the hold was placed but not recorded: release it first, then undo the acceptance
    assert states["HoldNotRemembered"]["Next"] == COMPENSATIONS[0]
    chain = [COMPENSATIONS[0]]
    while states[chain[-1]].get("Next") in COMPENSATIONS:
        chain.append(states[chain[-1]]["Next"])
    assert tuple(chain) == COMPENSATIONS


def test_a_failing_compensation_ends_the_execution_failed_instead_of_looping() -> None:
    states = definition()["States"]
    compensating = {*COMPENSATIONS, "ReleaseHold", "ReleaseHoldOfEndedReservation"}
    for name in compensating:
        last_resort = [c["Next"] for c in states[name]["Catch"] if "States.ALL" in c["ErrorEquals"]]
        assert last_resort == ["CompensationFailed"], name
    assert states["CompensationFailed"]["Type"] == "Fail"
    assert not reachable(states, "CompensationFailed") - {"CompensationFailed"}


def test_every_end_of_a_reservation_releases_a_recorded_hold_and_pickup_confirms_it() -> None:
    states = definition()["States"]
    routes = {c["Variable"]: c["Next"] for c in states["WhichEvent"]["Choices"]}
    for case in ("reservation_canceled", "reservation_rejected", "reservation_expired"):
        assert "ReleaseHold" in reachable(states, routes[f"$.{case}"])
    assert "ConfirmHold" in reachable(states, routes["$.reservation_picked_up"])
    # calls to the partner carry an idempotency key derived from the execution name
    for name in ("PlaceHold", "ReleaseHold", "ConfirmHold", "RejectReservation"):
        key = states[name]["Parameters"]["Headers"]["Idempotency-Key.$"]
        assert "$$.Execution.Name" in key, name


def test_cfn_lint_finds_nothing_wrong_with_the_state_machine() -> None:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Saga": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/saga",
                    "Definition": definition(),
                    "DefinitionSubstitutions": SUBSTITUTIONS,
                },
            }
        },
    }
    problems = [m for m in lint_all(json.dumps(template)) if m.rule.id[0] in "EW"]
    assert problems == []


def test_cfn_lint_would_catch_a_broken_definition() -> None:
    broken = definition()
    broken["States"]["PlaceHold"]["Retry"][0]["MaxAttempts"] = "five"
    template = {
        "Resources": {
            "Saga": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"RoleArn": "arn:aws:iam::1:role/s", "Definition": broken},
            }
        }
    }
    assert "E3601" in {m.rule.id for m in lint_all(json.dumps(template))}


@pytest.mark.aws
def test_moto_creates_the_state_machine(aws: MotoAws) -> None:
    sfn = aws.client("stepfunctions")
    created = sfn.create_state_machine(
        name="reservation-saga",
        definition=substituted(),
        roleArn="arn:aws:iam::123456789012:role/saga",
        type="STANDARD",
    )
    described = sfn.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    assert json.loads(described["definition"])["StartAt"] == "WhichEvent"
    assert described["type"] == "STANDARD"
