"""One logging configuration (eventfold.entry.logs): every logger's lines as JSON with a
timestamp when stderr is not a terminal, one level for all of them, tracebacks inside
their line."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

from eventfold.entry.logs import configure_logging, configure_logging_from
from eventfold.entry.telemetry import Telemetry
from eventfold.errors import ConfigurationError
from tests.worker_process import EVENTFOLD


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON (fails the test on a line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_cli_command_logs_json_lines_with_timestamps_when_stderr_is_no_terminal(
    tmp_path: Path,
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFOLD_")}
    environ.update(EVENTFOLD_HOME=str(tmp_path), EVENTFOLD_SERVICES="reservations")
    worker = subprocess.Popen(
        [str(EVENTFOLD), "worker"],
        env=environ,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    read = []
    for line in worker.stderr:
        read.append(line)
        if "routing to" in line:
            break
    worker.send_signal(signal.SIGTERM)
    rest = worker.communicate(timeout=30)[1]
    lines = json_lines("".join(read) + rest)
    routing = next(line for line in lines if line["event"] == "routing to subscriptions")
    assert (routing["level"], routing["logger"]) == ("info", "eventfold.worker")
    assert "reservations_view" in routing["subscriptions"]
    assert lines[-1]["event"] == "stopped"
    assert all(line["timestamp"].endswith("Z") and "T" in line["timestamp"] for line in lines)


@pytest.mark.parametrize(
    ("level", "shown"),
    [("warning", False), ("info", True), ("debug", True)],
)
def test_eventfold_log_level_applies_to_every_logger(
    level: str, shown: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging_from({"EVENTFOLD_LOG_LEVEL": level.upper()})
    Telemetry().retrying("rows", "order-1", 3, 1, "TimeoutError: slow")  # structlog, INFO
    logging.getLogger("eventfold.core.any").info("a core line", extra={"stream": "order-1"})
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("eventfold.core.any").debug("a debug line")
    lines = json_lines(capsys.readouterr().err)
    events = [line["event"] for line in lines]
    if shown:
        assert events[:3] == ["retrying", "a core line", "Application startup complete."]
        retrying, core, uvicorn = lines[:3]
        assert (retrying["stream"], retrying["version"], retrying["logger"]) == (
            "order-1",
            3,
            "eventfold.router",
        )
        assert (core["stream"], core["logger"], core["level"]) == (
            "order-1",
            "eventfold.core.any",
            "info",
        )
        assert uvicorn["logger"] == "uvicorn.error"
    else:
        assert events == []
    assert ("a debug line" in events) is (level == "debug")


def test_a_bad_log_level_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="EVENTFOLD_LOG_LEVEL='loud'"):
        configure_logging_from({"EVENTFOLD_LOG_LEVEL": "loud"})


def test_a_traceback_is_part_of_its_timestamped_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json=True)
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        structlog.stdlib.get_logger("eventfold.test").exception("it failed", stream="s-1")
        logging.getLogger("eventfold.core.test").exception("it failed here too")
    first, second = json_lines(capsys.readouterr().err)
    for line in (first, second):
        assert line["timestamp"]
        assert line["exception"].startswith("Traceback (most recent call last)")
        assert "RuntimeError: kaput" in line["exception"]
    assert first["stream"] == "s-1"


def test_uncaught_exceptions_are_logged_with_timestamps_in_any_thread(tmp_path: Path) -> None:
    program = (
        "import threading\n"
        "from eventfold.entry.logs import configure_logging\n"
        "configure_logging()\n"
        "thread = threading.Thread(target=lambda: 1 / 0, name='worker-1')\n"
        "thread.start(); thread.join()\n"
        "raise LookupError('in main')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    in_thread, in_main = json_lines(result.stderr)  # stderr is a pipe: JSON
    assert in_thread["thread"] == "worker-1"
    assert "ZeroDivisionError" in in_thread["exception"]
    assert "LookupError: in main" in in_main["exception"]
    assert all(line["timestamp"] for line in (in_thread, in_main))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_lines_are_for_people(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging("info")
    structlog.stdlib.get_logger("eventfold.test").warning("stream parked", stream="s-1")
    [line] = terminal.getvalue().splitlines()
    assert not line.startswith("{")
    assert "stream parked" in line
    assert "s-1" in line
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", line)  # the timestamp


def test_a_python_warning_is_a_log_line_too() -> None:
    """Not raw text among the JSON lines (a stop during uvicorn's start printed one)."""
    code = (
        "import warnings\n"
        "from eventfold.entry.logs import configure_logging\n"
        "configure_logging(json=True)\n"
        "warnings.warn('coroutine never awaited', RuntimeWarning)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    (line,) = json_lines(done.stderr)
    assert (line["logger"], line["level"]) == ("py.warnings", "warning")
    assert "RuntimeWarning: coroutine never awaited" in line["event"]
