"""One sample of every reservation event, and the recorder of stored fixtures.

tests/fixtures/reservations/stored_events.json keeps, per event type and schema, the bytes
the service stored when that schema was current, with the event as it was meant then. The
fixtures are never rewritten: a new event type or schema gets a new entry when it is
published (recorded in the schema gate's baseline, ``eventfold schema update-baseline``) with

    .venv/bin/python -m tests.examples.reservations.published_language_samples

An event without a hand-written sample below gets one made from its field types
(:func:`sample_of`), so a new event is round-tripped from the moment it is registered.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_type_hints

from eventfold.testing import to_plain
from reservations.domain.events import EVENT_TYPES
from reservations.domain.reservation import (
    ReservationAccepted,
    ReservationCanceled,
    ReservationExpired,
    ReservationPickedUp,
    ReservationRejected,
    StockSecured,
)
from reservations.domain.stock import StockHandedOver, StockLevelSet, StockReleased, StockReserved
from reservations.published_language import PROTO_ROOT, PROTOBUF_CODEC

FIXTURE = Path(__file__).parents[2] / "fixtures" / "reservations" / "stored_events.json"
AT = datetime(2026, 11, 22, 9, 30, 15, 250000, tzinfo=UTC)
LATER = datetime(2026, 11, 25, 9, 30, 15, tzinfo=UTC)

WRITTEN: tuple[object, ...] = (
    ReservationAccepted("r-1", "c-7", "shibuya", "SKU-123", 2, AT, LATER),
    StockSecured("r-1", AT),
    ReservationRejected("r-1", "damaged in the store", AT),
    ReservationCanceled("r-1", "customer", "bought it elsewhere", AT),
    ReservationPickedUp("r-1", AT),
    ReservationExpired("r-1", LATER),
    StockLevelSet("shibuya", "SKU-123", 12, AT),
    StockReserved("shibuya", "SKU-123", "r-1", 2),
    StockReleased("shibuya", "SKU-123", "r-1", 2, "expired"),
    StockHandedOver("shibuya", "SKU-123", "r-1", 2),
)


FIELD_SAMPLES: dict[object, object] = {str: "x-1", int: 2, datetime: AT}
"""A value per field type: the service's events carry only these (see domain/events.py)."""


def sample_of(cls: type) -> object:
    """An instance of the event class ``cls``, one sample value per field type."""
    types = get_type_hints(cls)
    return cls(**{f.name: FIELD_SAMPLES[types[f.name]] for f in dataclasses.fields(cls)})


SAMPLES: tuple[object, ...] = WRITTEN + tuple(
    sample_of(entry.cls)
    for entry in EVENT_TYPES
    if entry.name not in {type(sample).__name__ for sample in WRITTEN}
)

BASELINE = PROTO_ROOT / "baseline" / "descriptors.json"


def published_names() -> set[str]:
    """The events in the published language's baseline: the ``body`` cases of the
    envelope when the baseline was last recorded."""
    messages = json.loads(BASELINE.read_text())["messages"]
    fields = messages[PROTOBUF_CODEC.message_type]["fields"].values()
    return {f["type"].rsplit(".", 1)[-1] for f in fields if f["oneof"] == "body"}


def load_fixtures() -> list[dict[str, Any]]:
    if not FIXTURE.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["events"]
    return entries


def record_missing() -> list[str]:
    """Add a fixture for every (type, current schema) not stored yet; returns what it added."""
    entries = load_fixtures()
    have = {(e["type"], e["schema"]) for e in entries}
    added = []
    for sample in SAMPLES:
        data = PROTOBUF_CODEC.encode(sample)
        if (data.type, data.schema) in have:
            continue
        entries.append(
            {
                "type": data.type,
                "schema": data.schema,
                "data": base64.b64encode(data.data).decode("ascii"),
                "meant": to_plain(sample),
            }
        )
        added.append(f"{data.type} schema {data.schema}")
    document = {
        "about": "Events as the reservation service stored them (protobuf envelope, base64), "
        "one per type and schema, with what they meant then. Never edit or regenerate an "
        "entry: current code must keep decoding them. Add entries with "
        "`python -m tests.examples.reservations.published_language_samples`.",
        "envelope": PROTOBUF_CODEC.message_type,
        "events": sorted(entries, key=lambda e: (e["type"], e["schema"])),
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return added


def registered_names() -> set[str]:
    return {entry.name for entry in EVENT_TYPES}


if __name__ == "__main__":
    for line in record_missing() or ["nothing to add"]:
        print(line)
