"""Given / when / then for every rule of the stock decider.

The decider keeps counters; that a reservation holds once and ends its hold once is the
reservation decider's part (tests in test_app.py and the property in
test_stock_property.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eventfold import InvalidCommand, RuleViolated
from eventfold.testing import spec
from reservations.domain.stock import (
    HandOverStock,
    HoldStock,
    ReleaseStock,
    SetStockLevel,
    Stock,
    StockHandedOver,
    StockLevelSet,
    StockReleased,
    StockReserved,
    stock,
)

NOW = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
FIVE = StockLevelSet("s1", "sku1", 5, NOW)
HOLD_R1 = StockReserved("s1", "sku1", "r1", 3)


def test_the_feed_sets_the_level_of_a_new_stock() -> None:
    state = spec(stock).given().when(SetStockLevel("s1", "sku1", 5, NOW)).then(FIVE)
    assert (state.on_hand, state.available, state.exists) == (5, 5, True)


def test_a_stock_level_of_zero_creates_the_stock() -> None:
    state = (
        spec(stock)
        .given()
        .when(SetStockLevel("s1", "sku1", 0, NOW))
        .then(StockLevelSet("s1", "sku1", 0, NOW))
    )
    assert state.exists


def test_a_repeated_level_records_nothing() -> None:
    spec(stock).given(FIVE).when(SetStockLevel("s1", "sku1", 5, NOW)).then()


def test_a_negative_level_is_invalid() -> None:
    spec(stock).given().when(SetStockLevel("s1", "sku1", -1, NOW)).raises(
        InvalidCommand, "negative"
    )


def test_the_level_never_drops_below_what_reservations_hold() -> None:
    spec(stock).given(FIVE, HOLD_R1).when(SetStockLevel("s1", "sku1", 2, NOW)).raises(
        RuleViolated, "fewer than the 3 units reservations hold"
    )


def test_the_level_may_drop_to_what_reservations_hold() -> None:
    state = (
        spec(stock)
        .given(FIVE, HOLD_R1)
        .when(SetStockLevel("s1", "sku1", 3, NOW))
        .then(StockLevelSet("s1", "sku1", 3, NOW))
    )
    assert state.available == 0


def test_a_hold_takes_units_from_available() -> None:
    state = spec(stock).given(FIVE).when(HoldStock("s1", "sku1", "r1", 3)).then(HOLD_R1)
    assert (state.on_hand, state.held, state.available) == (5, 3, 2)


def test_a_hold_may_take_the_last_unit() -> None:
    state = (
        spec(stock)
        .given(FIVE, HOLD_R1)
        .when(HoldStock("s1", "sku1", "r2", 2))
        .then(StockReserved("s1", "sku1", "r2", 2))
    )
    assert state.available == 0


def test_a_hold_never_takes_more_than_is_available() -> None:
    spec(stock).given(FIVE, HOLD_R1).when(HoldStock("s1", "sku1", "r2", 3)).raises(
        RuleViolated, "only 2 of sku1 available"
    )


@pytest.mark.parametrize("quantity", [0, -2])
def test_a_hold_is_of_at_least_one_unit(quantity: int) -> None:
    spec(stock).given(FIVE).when(HoldStock("s1", "sku1", "r1", quantity)).raises(
        InvalidCommand, "quantity"
    )


def test_a_hold_needs_a_stock_record() -> None:
    spec(stock).given().when(HoldStock("s1", "sku1", "r1", 1)).raises(
        RuleViolated, "no stock record"
    )


def test_the_stock_keeps_counters_not_holds() -> None:
    """Each hold's quantity lives in its reservation's stream; the stock only counts."""
    holds = [StockReserved("s1", "sku1", f"r{n}", 1) for n in range(3)]
    state = stock.fold_events([StockLevelSet("s1", "sku1", 500, NOW), *holds])
    assert state == Stock("s1", "sku1", on_hand=500, held=3, exists=True)


def test_a_release_gives_the_units_back() -> None:
    state = (
        spec(stock)
        .given(FIVE, HOLD_R1)
        .when(ReleaseStock("r1", 3, "expired"))
        .then(StockReleased("s1", "sku1", "r1", 3, "expired"))
    )
    assert (state.on_hand, state.held, state.available) == (5, 0, 5)


def test_a_release_gives_back_the_quantity_it_carries() -> None:
    hold_r2 = StockReserved("s1", "sku1", "r2", 1)
    state = (
        spec(stock)
        .given(FIVE, HOLD_R1, hold_r2)
        .when(ReleaseStock("r2", 1, "canceled"))
        .then(StockReleased("s1", "sku1", "r2", 1, "canceled"))
    )
    assert (state.held, state.available) == (3, 2)


def test_a_release_of_more_than_is_held_is_refused() -> None:
    spec(stock).given(FIVE, HOLD_R1).when(ReleaseStock("r2", 4, "expired")).raises(
        RuleViolated, "only 3 are held"
    )


def test_a_release_with_nothing_held_is_refused() -> None:
    released = StockReleased("s1", "sku1", "r1", 3, "expired")
    spec(stock).given(FIVE, HOLD_R1, released).when(ReleaseStock("r1", 3, "again")).raises(
        RuleViolated, "only 0 are held"
    )


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_release_is_of_at_least_one_unit(quantity: int) -> None:
    spec(stock).given(FIVE, HOLD_R1).when(ReleaseStock("r1", quantity, "x")).raises(
        InvalidCommand, "quantity"
    )


def test_a_hand_over_takes_the_units_out_of_the_store() -> None:
    state = (
        spec(stock)
        .given(FIVE, HOLD_R1)
        .when(HandOverStock("r1", 3))
        .then(StockHandedOver("s1", "sku1", "r1", 3))
    )
    assert (state.on_hand, state.held, state.available) == (2, 0, 2)


def test_a_hand_over_of_more_than_is_held_is_refused() -> None:
    spec(stock).given(FIVE).when(HandOverStock("r1", 1)).raises(RuleViolated, "only 0 are held")


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_hand_over_is_of_at_least_one_unit(quantity: int) -> None:
    spec(stock).given(FIVE, HOLD_R1).when(HandOverStock("r1", quantity)).raises(
        InvalidCommand, "quantity"
    )
