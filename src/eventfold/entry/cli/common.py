"""What every ``eventfold`` command shares: the CLI context and one-line errors.

Commands get their :class:`CliContext` from ``ctx.obj`` (see :func:`cli_context`). Every
failure ends as ONE line on stderr saying what is wrong and how to fix it, with exit code
1 (2 for a command line that does not parse); no traceback unless ``--traceback``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from eventfold.entry.service import Service, installed_services
from eventfold.entry.settings import Settings, load_settings
from eventfold.errors import ConfigurationError, EventfoldError

SIGPIPE_EXIT = 141
"""The exit code when stdout's reader went away, as a shell reports a process SIGPIPE ended."""

ServicesLoader = Callable[[Sequence[str]], list[Service]]
"""Finds the services to run by name (all installed ones for no names)."""


def load_installed_services(names: Sequence[str]) -> list[Service]:
    """:func:`installed_services`, with a service that fails to import reported as a
    configuration problem instead of a traceback."""
    try:
        return installed_services(names)
    except ImportError as exc:
        raise ConfigurationError(
            f"an installed service could not be imported ({exc}); reinstall with "
            "`make install`, or pick the services to run with EVENTFOLD_SERVICES"
        ) from exc


@dataclass
class CliContext:
    """The environment and the service loader a command works with, built once per
    invocation (tests pass their own as ``obj``)."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    load_services: ServicesLoader = load_installed_services
    show_traceback: bool = False
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.environ)
        return self._settings

    def services(self) -> list[Service]:
        return self.load_services(self.settings().services)


def require_home(settings: Settings) -> None:
    """Refuse (one line, exit 1) a data folder with no event store in it: an operations
    command on a mistyped EVENTFOLD_HOME would otherwise make a new, empty one and report
    that nothing is parked or behind."""
    if settings.store == "sqlite" and not settings.database_path.exists():
        fail(
            f"no event store at {settings.database_path.resolve()}: set EVENTFOLD_HOME to "
            "the data folder `eventfold run` used (default ./.eventfold)"
        )


def flag(default: bool, *names: str, help: str) -> Any:
    """A boolean option (``--json``, ``--yes``): shown in ``--help`` as taking no value
    (typer's rich help otherwise prints a ``<bool>`` type beside it)."""
    return typer.Option(default, *names, help=help, metavar="")


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):  # pragma: no cover - the root callback sets it
        raise RuntimeError("the eventfold CLI context is missing")
    return obj


def one_line(message: str) -> str:
    return " ".join(message.split())


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` as one line on stderr and exit with ``code``."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


class OneLineErrors(TyperGroup):
    """The root command group: turns whatever a command raises into one line."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except typer.TyperException as exc:  # the root's own options do not parse
            if exc.exit_code != 2:
                raise
            fail(f"{exc.format_message()} (see `eventfold --help`)", 2)

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's click Context
        try:
            return super().invoke(ctx)
        except EventfoldError as exc:
            fail(str(exc))
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            # The reader of stdout went away (`eventfold tail | head`): not an error of
            # ours. Point stdout at /dev/null so the exit's flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(SIGPIPE_EXIT) from None
        except typer.TyperException as exc:
            if exc.exit_code != 2:  # not a usage error: typer prints it itself
                raise
            where = getattr(exc, "ctx", None) or ctx
            fail(f"{exc.format_message()} (see `{where.command_path} --help`)", 2)
        except Exception as exc:
            obj = ctx.obj
            if isinstance(obj, CliContext) and obj.show_traceback:
                raise
            fail(
                f"unexpected {type(exc).__name__}: {exc} (this is a bug; rerun with "
                "`eventfold --traceback ...` to see where, and report it)"
            )
