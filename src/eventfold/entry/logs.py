"""One logging configuration for every eventfold process: structlog in front, stdlib
``logging`` underneath.

:func:`configure_logging` is called once by each entry point (every CLI command through the
root callback, so also ``eventfold run``'s HTTP and router processes; the Lambda handler
factories). Afterwards every line, whoever logs it, goes the same way:

- structlog loggers (``structlog.stdlib.get_logger(__name__)``) in the adapters and entry
  points, stdlib loggers in the core (which stays stdlib-only: pass fields with ``extra=``),
  uvicorn, mangum, boto and every other library: all are records of stdlib ``logging``,
  rendered by one handler on the root logger through structlog's processors;
- one level for all of them (``EVENTFOLD_LOG_LEVEL``), set on the root logger (libraries
  that narrate routine steps at INFO, :data:`CHATTY_LIBRARIES`, speak from WARNING up
  unless it is DEBUG);
- each line carries an ISO 8601 UTC timestamp, the level, the logger's name, the fields the
  code passed, and the fields bound for the request or invocation it belongs to
  (``structlog.contextvars``: the HTTP edge binds the request's ids);
- a traceback is part of its line (JSON: the ``exception`` field), so it has a timestamp too,
  and so do exceptions nobody caught (in the main thread or any other);
- Python's warnings (a ``RuntimeWarning`` for a coroutine a stop interrupted before it ran,
  say) are lines of the ``py.warnings`` logger, not raw text among the JSON lines;
- JSON, one object per line, when stderr is not a terminal (a log collector, CloudWatch);
  coloured key=value lines when it is.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from eventfold.entry.settings import log_level_of

LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

CHATTY_LIBRARIES = ("alembic", "botocore", "boto3", "urllib3", "httpx", "httpcore", "mail.log")
"""Libraries that log routine steps at INFO (a credential lookup, each HTTP request, each
SMTP connection, each migration step): they log from WARNING up unless the level is DEBUG,
so that INFO stays eventfold's own lines and a CLI error stays one line."""

_uncaught = structlog.stdlib.get_logger("eventfold.uncaught")


class _CurrentStderr(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is when a line is written, not as it was when logging
    was configured: test runners and CLI runners swap it for a while, then close theirs."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def _hand_to_stdlib(logger: WrappedLogger, name: str, event_dict: EventDict) -> Any:
    """structlog's last step: pass the event to the stdlib logger for the handler's
    ProcessorFormatter, and the exception on the record too, so stdlib handlers (pytest's
    caplog, an error tracker's) see it as they would from ``logging`` itself."""
    args, kwargs = structlog.stdlib.ProcessorFormatter.wrap_for_formatter(logger, name, event_dict)
    if event_dict.get("exc_info"):
        kwargs["exc_info"] = event_dict["exc_info"]
    return args, kwargs


def _drop_copies_of_the_event(logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
    """``event`` holds the message already: not again as another formatter stored it on the
    record (``message``), nor as uvicorn's coloured copy (``color_message``)."""
    event_dict.pop("message", None)
    event_dict.pop("color_message", None)
    return event_dict


def configure_logging(
    level: str | int = "info", *, json: bool | None = None, exclusive: bool = False
) -> None:
    """Route structlog and every stdlib logger through one handler on stderr.

    ``level``: a name (``"debug"`` … ``"error"``) or a ``logging`` level, for every logger.
    ``json``: None picks JSON lines when stderr is not a terminal. ``exclusive``: also remove
    root handlers someone else installed (the Lambda runtime's, which would write every line
    a second time). Calling it again replaces the previous configuration.
    """
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            _hand_to_stdlib,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: structlog.testing.capture_logs and a later configure_logging call
        # must reach loggers that modules created at import time.
        cache_logger_on_first_use=False,
    )
    renderer: list[Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if json
        else [structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)]
    )
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # Records from stdlib loggers (the core, uvicorn, libraries) get the same fields.
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_copies_of_the_event],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if exclusive or isinstance(old, _CurrentStderr):
            root.removeHandler(old)
    root.addHandler(handler)
    threshold = LEVELS[level] if isinstance(level, str) else level
    root.setLevel(threshold)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own logging setup (an app served with its default log_config before)
        # leaves levels, handlers and propagate=False on these: ours must govern them.
        served = logging.getLogger(name)
        served.setLevel(logging.NOTSET)
        served.handlers.clear()
        served.propagate = True
        served.disabled = False
    for library in CHATTY_LIBRARIES:
        chatty = logging.getLogger(library)
        chatty.setLevel(logging.NOTSET if threshold <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)
    # Uncaught exceptions are logged too, unless someone else (a test runner, an error
    # tracker) hooked them already.
    if sys.excepthook in (sys.__excepthook__, _log_uncaught):
        sys.excepthook = _log_uncaught
    if threading.excepthook in (threading.__excepthook__, _log_uncaught_in_thread):
        threading.excepthook = _log_uncaught_in_thread


def configure_logging_from(environ: Mapping[str, str], *, exclusive: bool = False) -> None:
    """:func:`configure_logging` at ``EVENTFOLD_LOG_LEVEL`` (default info), the only setting
    it reads, so a bad value of another one is still reported through the log."""
    configure_logging(log_level_of(environ), exclusive=exclusive)


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    _uncaught.error("uncaught exception", exc_info=(kind, error, traceback))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    thread = args.thread.name if args.thread is not None else None
    _uncaught.error(
        "uncaught exception in a thread",
        thread=thread,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
