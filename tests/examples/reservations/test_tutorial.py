"""docs/tutorial.md matches the repository: its count of files is at most 6, each file it
counts exists and holds the piece the tutorial says it does."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TUTORIAL = ROOT / "docs" / "tutorial.md"

PIECES = {
    "examples/reservations/domain/reservation.py": ["class ExtendHold", "class HoldExtended"],
    "examples/reservations/proto/eventfold/reservations/v1/events.proto": [
        "HoldExtended hold_extended = 16;",
        "message HoldExtended",
    ],
    "examples/reservations/http.py": ['"/reservations/{reservation_id}/extend"'],
    "examples/reservations/projection.py": ['Column("extended_at"', "def on_hold_extended"],
    "examples/reservations/migrations/versions/reservations0003_hold_extended.py": [
        'op.add_column("reservations", sa.Column("extended_at"'
    ],
    "tests/examples/reservations/test_extend_hold.py": ["def test_"],
}


def counted_files() -> list[str]:
    """The paths in the tutorial's count table (rows ``| n | `path` | what |``)."""
    table = TUTORIAL.read_text().split("## The count", 1)[1]
    return re.findall(r"^\| \d+ \| `([^`]+)` \|", table, re.M)


def test_the_tutorial_counts_at_most_six_files_and_each_holds_its_piece() -> None:
    counted = counted_files()

    assert len(counted) <= 6
    assert sorted(counted) == sorted(PIECES)
    for path, pieces in PIECES.items():
        text = (ROOT / path).read_text()
        assert [piece for piece in pieces if piece not in text] == [], path
