"""The ``eventfold`` command line (typer): ``eventfold.entry.cli.main:app``."""
