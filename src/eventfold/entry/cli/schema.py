"""``eventfold schema ...``: the breaking-change gate of the published language.

``check`` compiles the ``.proto`` files of each proto root and compares them with the
committed baseline (``<root>/baseline/descriptors.json``); every break is printed naming the
field, and the command exits 1. ``update-baseline`` records the current files: the explicit,
reviewed step an intentional break needs. The work is in
:mod:`eventfold.devtools.schema_gate`.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="schema",
    help="Guard the published language (.proto files) against breaking changes.",
    no_args_is_help=True,
)

ROOTS = typer.Argument(
    ..., help="Proto roots: folders holding the .proto files (e.g. examples/reservations/proto)."
)


@app.command("check")
def check_command(roots: list[Path] = ROOTS) -> None:
    """Fail when a .proto file breaks its committed baseline."""
    from eventfold.devtools.schema_gate import check  # a dev-time tool: loaded when called

    failed = False
    for root in roots:
        report = check(root)
        for line in report.breaks:
            typer.echo(f"{root}: BREAKING: {line}", err=True)
        if report.breaks:
            failed = True
            typer.echo(
                f"{root}: {len(report.breaks)} breaking change(s). Stored and published events "
                "must stay readable: undo the change (deprecate instead of removing, add new "
                "fields under new numbers), or, if the break is intended and consumers are "
                f"ready, run `eventfold schema update-baseline {root}` and commit the baseline.",
                err=True,
            )
            continue
        note = f" ({len(report.additions)} addition(s) not yet in the baseline)"
        typer.echo(f"{root}: no breaking changes" + (note if report.additions else ""))
    if failed:
        raise typer.Exit(1)


@app.command("update-baseline")
def update_baseline_command(roots: list[Path] = ROOTS) -> None:
    """Record the current .proto files as the baseline (commit the file it writes)."""
    from eventfold.devtools.schema_gate import write_baseline

    for root in roots:
        typer.echo(f"wrote {write_baseline(root)}")


if __name__ == "__main__":  # pragma: no cover
    app()
