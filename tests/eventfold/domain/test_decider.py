from __future__ import annotations

import pytest

from eventfold import Decider, RuleViolated, category_of, entity_id_of
from eventfold.testing import spec
from tests.eventfold.domain.counter import Add, Added, Counter, counter


def test_stream_ids_are_category_dash_entity() -> None:
    assert counter.stream_id("42") == "counter-42"
    assert category_of("counter-4-2") == "counter"
    assert entity_id_of("counter-4-2") == "4-2"
    assert entity_id_of("counter") == ""


@pytest.mark.parametrize("category", ["", "two-parts"])
def test_a_category_must_be_one_word(category: str) -> None:
    with pytest.raises(ValueError, match="category"):
        Decider(category, Counter(), lambda s, e: s, lambda c, s: [])


def test_fold_events_starts_from_the_initial_state() -> None:
    assert counter.fold_events([Added(2), Added(3)]) == Counter(5)
    assert counter.fold_events([Added(1)], Counter(10)) == Counter(11)
    assert counter.fold_id == "counter/1"


def test_given_when_then_passes_on_the_expected_events() -> None:
    state = spec(counter).given(Added(2)).when(Add(3)).then(Added(3))
    assert state == Counter(5)


def test_given_when_then_fails_on_other_events() -> None:
    with pytest.raises(AssertionError, match="expected events"):
        spec(counter).given().when(Add(3)).then(Added(4))


def test_raises_checks_the_error_and_its_message() -> None:
    spec(counter).given(Added(99)).when(Add(2)).raises(RuleViolated, "limit of 100")
    with pytest.raises(AssertionError, match="does not match"):
        spec(counter).given(Added(99)).when(Add(2)).raises(RuleViolated, "other words")
    with pytest.raises(AssertionError, match="expected RuleViolated"):
        spec(counter).when(Add(2)).raises(RuleViolated)
