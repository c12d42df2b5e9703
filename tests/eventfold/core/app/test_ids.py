"""new_id: UUIDv7 as 32 hex digits, ordered by the millisecond it was made in."""

from __future__ import annotations

import time
import uuid

from eventfold import new_id


def test_an_id_is_a_uuid7_in_32_hex_digits() -> None:
    made = new_id()
    assert len(made) == 32
    assert made == made.lower()
    parsed = uuid.UUID(made)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_an_id_carries_the_millisecond_it_was_made_in() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= int(made[:12], 16) <= after


def test_ids_of_later_milliseconds_sort_after_and_none_repeats() -> None:
    first = [new_id() for _ in range(1000)]
    time.sleep(0.002)
    later = [new_id() for _ in range(1000)]
    assert max(first) < min(later)
    assert len(set(first + later)) == 2000
