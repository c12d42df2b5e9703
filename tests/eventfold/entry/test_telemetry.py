"""The router's freshness histogram exports what prometheus_client's Histogram would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from eventfold.domain.events import RecordedEvent
from eventfold.entry.telemetry import FRESHNESS_BUCKETS, Freshness, Telemetry

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
AGES = st.one_of(
    st.sampled_from(FRESHNESS_BUCKETS),  # on a bound: counted in that bucket (le)
    st.floats(min_value=0, max_value=120, allow_nan=False),
)


def exported(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith(Freshness.name) and "_created" not in line
    ]


def recorded(ages: list[float]) -> list[RecordedEvent]:
    return [
        RecordedEvent("order-1", n, "Placed", b"{}", 1, {}, NOW - timedelta(seconds=age))
        for n, age in enumerate(ages, start=1)
    ]


@given(st.lists(st.lists(AGES, max_size=20), max_size=4))
def test_batches_of_ages_export_as_one_histogram_of_every_event_would(
    batches: list[list[float]],
) -> None:
    telemetry = Telemetry(clock=lambda: NOW)
    reference = CollectorRegistry()
    histogram = Histogram(
        Freshness.name,
        "From an event's commit to its target having applied it.",
        ["subscription"],
        buckets=FRESHNESS_BUCKETS,
        registry=reference,
    )
    for batch in batches:
        events = recorded(batch)
        telemetry.applied("view", events)
        for event in events:  # the same seconds as the telemetry computes them
            histogram.labels("view").observe((NOW - event.recorded_at).total_seconds())
    assert exported(telemetry.registry) == exported(reference)


def test_each_subscription_has_its_own_series() -> None:
    telemetry = Telemetry(clock=lambda: NOW)
    telemetry.applied("view", recorded([0.002, 3.0]))
    telemetry.applied("mail", recorded([0.5]))
    lines = exported(telemetry.registry)
    assert f'{Freshness.name}_count{{subscription="view"}} 2.0' in lines
    assert f'{Freshness.name}_count{{subscription="mail"}} 1.0' in lines
    assert f'{Freshness.name}_bucket{{le="0.0025",subscription="view"}} 1.0' in lines
