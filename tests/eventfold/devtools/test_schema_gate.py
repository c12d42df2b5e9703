"""The breaking-change gate, run on deliberately broken copies of the reservation .proto."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventfold import ConfigurationError
from eventfold.devtools.schema_gate import check, compare, write_baseline
from eventfold.entry.cli.main import app as eventfold
from eventfold.entry.cli.schema import app

REPO = Path(__file__).parents[3]
RESERVATIONS = REPO / "examples" / "reservations" / "proto"
EVENTS = Path("eventfold/reservations/v1/events.proto")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the reservation proto root with its committed baseline."""
    copy = tmp_path / "proto"
    shutil.copytree(RESERVATIONS, copy, ignore=shutil.ignore_patterns("*_pb2.py*"))
    return copy


def edit(root: Path, old: str, new: str) -> None:
    path = root / EVENTS
    text = path.read_text()
    assert old in text, f"the test's anchor {old!r} is gone from {EVENTS}"
    path.write_text(text.replace(old, new, 1))


def test_the_committed_proto_files_match_their_baseline() -> None:
    report = check(RESERVATIONS)

    assert report.breaks == ()


def test_adding_fields_and_events_is_not_a_break(root: Path) -> None:
    edit(root, "  int32 quantity = 5;\n", "  int32 quantity = 5;\n  string note = 8;\n")
    edit(
        root,
        "    StockHandedOver stock_handed_over = 23;\n",
        "    StockHandedOver stock_handed_over = 23;\n    StockCounted stock_counted = 24;\n",
    )
    (root / EVENTS).write_text(
        (root / EVENTS).read_text() + "message StockCounted { string store_id = 1; }\n"
    )

    report = check(root)

    assert report.ok
    assert "field eventfold.reservations.v1.ReservationAccepted.note (number 8) added" in (
        report.additions
    )
    assert "message eventfold.reservations.v1.StockCounted added" in report.additions


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  string reason = 3;\n  google.protobuf.Timestamp canceled_at = 4;",
            "  google.protobuf.Timestamp canceled_at = 4;",
            "field eventfold.reservations.v1.ReservationCanceled.reason (number 3) was removed "
            "without reserving its number",
        ),
        (
            "  int32 quantity = 5;",
            "  string quantity = 5;",
            "field eventfold.reservations.v1.ReservationAccepted.quantity (number 5) changed "
            "type from int32 to string",
        ),
        (
            "  int32 on_hand = 3;",
            "  repeated int32 on_hand = 3;",
            "field eventfold.reservations.v1.StockLevelSet.on_hand (number 3) changed "
            "cardinality from singular to repeated",
        ),
        (
            "  string sku = 4;",
            "  string article = 4;",
            "field eventfold.reservations.v1.ReservationAccepted.sku (number 4) was renamed "
            "to article",
        ),
        (
            "  google.protobuf.Timestamp expired_at = 2;",
            "  google.protobuf.Timestamp expired_at = 3;",
            "field eventfold.reservations.v1.ReservationExpired.expired_at (number 2) was removed",
        ),
        (
            "    StockSecured stock_secured = 11;\n",
            "",
            "field eventfold.reservations.v1.Event.stock_secured (number 11) was removed",
        ),
        (
            "  string stream_id = 1;",
            "  optional string stream_id = 1;",
            "field eventfold.reservations.v1.Event.stream_id (number 1) changed cardinality "
            "from singular to optional",
        ),
    ],
    ids=["removed", "retyped", "cardinality", "renamed", "renumbered", "event-removed", "presence"],
)
def test_a_break_fails_the_gate_naming_the_field(
    root: Path, old: str, new: str, expected: str
) -> None:
    edit(root, old, new)

    report = check(root)

    assert not report.ok
    assert any(line.startswith(expected) for line in report.breaks), report.breaks


def test_reusing_a_reserved_number_is_a_break_even_after_the_removal_was_accepted(
    root: Path,
) -> None:
    edit(root, "  string reason = 2;\n", '  reserved 2;\n  reserved "reason";\n')
    assert any("ReservationRejected.reason (number 2) was removed" in b for b in check(root).breaks)
    write_baseline(root)  # the intentional break, recorded
    assert check(root).ok

    edit(root, '  reserved 2;\n  reserved "reason";\n', "  string why = 2;\n")

    assert check(root).breaks == (
        "field eventfold.reservations.v1.ReservationRejected.why (number 2) reuses a reserved "
        "number: pick a new number and name",
    )


def test_a_renamed_or_removed_enum_value_and_a_removed_enum_are_breaks() -> None:
    def enums(**found: dict[str, str]) -> dict[str, object]:
        return {"messages": {}, "enums": {n: {"values": v} for n, v in found.items()}}

    baseline = enums(Status={"0": "UNKNOWN", "1": "OPEN", "2": "SHUT"}, Gone={"0": "X"})
    current = enums(Status={"0": "UNKNOWN", "1": "OPENED", "3": "NEW"})

    breaks, additions = compare(baseline, current)

    assert sorted(breaks) == [
        "enum Gone was removed",
        "enum value Status.OPEN (number 1) was renamed to OPENED",
        "enum value Status.SHUT (number 2) was removed",
    ]
    assert additions == []


def test_a_missing_baseline_says_how_to_record_one(root: Path) -> None:
    (root / "baseline" / "descriptors.json").unlink()

    with pytest.raises(ConfigurationError, match="eventfold schema update-baseline"):
        check(root)


def test_a_proto_that_does_not_compile_is_a_configuration_error(root: Path) -> None:
    edit(root, "  int32 quantity = 5;", "  int32 quantity = 5")

    with pytest.raises(ConfigurationError, match="protoc could not compile"):
        check(root)


def test_the_cli_exits_1_naming_each_break_and_the_way_out(root: Path) -> None:
    edit(root, "  int32 quantity = 4;\n  string reason = 5;", "  int64 quantity = 4;")

    result = CliRunner().invoke(app, ["check", str(root)])

    assert result.exit_code == 1
    assert "StockReleased.quantity (number 4) changed type from int32 to int64" in result.output
    assert "StockReleased.reason (number 5) was removed" in result.output
    assert "eventfold schema update-baseline" in result.output


def test_the_cli_update_baseline_accepts_an_intentional_break(root: Path) -> None:
    edit(root, "  int32 on_hand = 3;", "  int64 on_hand = 3;")

    assert CliRunner().invoke(app, ["update-baseline", str(root)]).exit_code == 0
    result = CliRunner().invoke(app, ["check", str(root)])

    assert result.exit_code == 0, result.output
    assert "no breaking changes" in result.output


def test_eventfold_schema_reports_a_missing_baseline_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(eventfold, ["schema", "check", str(tmp_path)])

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: no schema baseline at {tmp_path}/baseline/descriptors.json: record one with "
        f"`eventfold schema update-baseline {tmp_path}` and commit it"
    ]
