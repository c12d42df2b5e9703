"""The ``eventfold`` console script: says which extra to install when the command line's
libraries are missing (a core-only install has the script too), then runs the typer app."""

from __future__ import annotations

import sys

from eventfold.entry.extras import require_extra


def main() -> None:
    try:
        require_extra("the eventfold command", "cli")
    except ImportError as missing:
        sys.exit(f"eventfold: {missing}")
    from eventfold.entry.cli.main import app

    app()
