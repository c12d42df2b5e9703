"""``eventfold run`` as a user starts it: the installed console script, a real port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eventfold.entry.processes import Child
from eventfold.testing import TokenIssuer
from tests.loopback import free_port

EVENTFOLD = Path(sys.executable).parent / "eventfold"
STARTUP_LIMIT_SECONDS = 60.0
"""How long the server may take to answer /healthz before the test gives up (a bound on a
hang, not a speed check)."""


def environment(home: Path, port: int, **more: str) -> dict[str, str]:
    """The test's own settings; no EVENTFOLD_* variable of the caller leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFOLD_")}
    env.update({"EVENTFOLD_HOME": str(home), "PORT": str(port), "EVENTFOLD_LOG_LEVEL": "warning"})
    # The mail sink's default port (PORT + 25) may belong to a parallel test: pick a free one.
    env["EVENTFOLD_SMTP_PORT"] = str(free_port())
    env.update(more)
    return env


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    port = free_port()
    home = tmp_path / "data"
    process = subprocess.Popen(
        [str(EVENTFOLD), "run"],
        env=environment(home, port, EVENTFOLD_LOG_LEVEL="info"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    try:
        while True:
            if process.poll() is not None:
                out, err = stop(process)
                pytest.fail(f"eventfold run exited with {process.returncode}: {err or out}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                out, err = stop(process)
                pytest.fail(f"eventfold run did not answer /healthz: {err or out}")
            time.sleep(0.1)
        yield process, url, home
    finally:
        stop(process)


def test_run_serves_the_installed_services_and_stops_cleanly_on_sigterm(
    server: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, home = server
    assert "reservations" in httpx.get(f"{url}/healthz").json()["services"]
    anonymous = httpx.put(f"{url}/stores/s1/stock/sku-1", json={"on_hand": 3})
    assert anonymous.status_code == 401, anonymous.text
    # run made the home's signing key; `eventfold token` and this issuer sign with it.
    feed = TokenIssuer.of_home(home).headers("feed", "inventory")
    stock = httpx.put(f"{url}/stores/s1/stock/sku-1", json={"on_hand": 3}, headers=feed)
    assert stock.status_code == 200, stock.text
    missing = httpx.get(f"{url}/no-such-route")
    assert missing.headers["content-type"] == "application/problem+json"

    _, err = stop(process)
    # uvicorn shuts down gracefully; eventfold turns the re-raised SIGTERM into exit 0.
    assert process.returncode == 0, err
    logged = [json.loads(line) for line in err.splitlines()]  # stderr is a pipe: JSON lines
    assert logged[-1]["event"] == "stopped"
    shutdowns = [line for line in logged if "Application shutdown complete" in line["event"]]
    assert shutdowns  # one per HTTP process, through eventfold's logging
    assert {(line["logger"], line["level"]) for line in shutdowns} == {("uvicorn.error", "info")}
    assert all(line["timestamp"] for line in logged)
    assert url in err
    assert str(home.resolve()) in err
    assert (home / "eventfold.db").is_file()


def test_run_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(EVENTFOLD), "run"],
            cwd=tmp_path,
            env=environment(tmp_path, port, EVENTFOLD_SERVICES="reservations"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "PORT" in result.stderr


def test_the_listening_socket_is_tcp_so_asyncio_turns_nagle_off() -> None:
    from eventfold.entry.cli.serve import listening_socket
    from eventfold.entry.settings import load_settings

    sock = listening_socket(load_settings({"PORT": str(free_port())}))
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def run_children(
    environ: dict[str, str],
    *,
    writer_socket: Path | None = None,
    handover_socket: Path | None = None,
) -> list[Child]:
    """What ``eventfold run`` would start with the settings ``environ`` (listening on fd 7)."""
    from eventfold.entry.cli.serve import children
    from eventfold.entry.settings import load_settings

    return children(
        load_settings(environ),
        listening_fd=7,
        metrics_port=9999,
        writer_socket=writer_socket,
        handover_socket=handover_socket,
    )


@pytest.mark.parametrize(
    ("router", "names"), [("on", ["router", "http-1", "http-2"]), ("off", ["http-1", "http-2"])]
)
def test_eventfold_router_decides_whether_run_starts_a_router_process(
    router: str, names: list[str]
) -> None:
    started = run_children({"EVENTFOLD_ROUTER": router, "EVENTFOLD_WORKERS": "2"})
    assert [c.name for c in started] == names
    http = [c for c in started if c.name.startswith("http")]
    assert all(c.pass_fds == (7,) for c in http)
    assert all("--fd" in c.argv and "7" in c.argv for c in http)


def http_roles(started: list[Child], flags: tuple[str, str], socket_path: Path) -> list[str | None]:
    """Each HTTP child's flag among ``flags`` (without its dashes; None: neither), each
    naming ``socket_path``."""
    found: list[str | None] = []
    for child in (c for c in started if c.name.startswith("http")):
        given = [a for a in child.argv if a in flags]
        assert len(given) <= 1
        if given:
            assert child.argv[list(child.argv).index(given[0]) + 1] == str(socket_path)
        found.append(given[0].removeprefix("--") if given else None)
    return found


@pytest.mark.parametrize(
    ("environ", "roles"),
    [
        (
            {"EVENTFOLD_ONE_WRITER": "on", "EVENTFOLD_WORKERS": "3"},
            ["serve-writes", "forward-writes", "forward-writes"],
        ),
        ({"EVENTFOLD_ONE_WRITER": "on", "EVENTFOLD_WORKERS": "1"}, [None]),
        ({"EVENTFOLD_WORKERS": "2"}, [None, None]),
    ],
)
def test_only_one_writer_with_several_http_processes_hands_commands_over(
    environ: dict[str, str], roles: list[str | None]
) -> None:
    socket_path = Path("/run/x/writer.sock")
    started = run_children(environ, writer_socket=socket_path)
    assert http_roles(started, ("--serve-writes", "--forward-writes"), socket_path) == roles


def test_metrics_of_every_http_process_add_up_on_each_scrape(
    server: tuple[subprocess.Popen[str], str, Path],
) -> None:
    _, url, home = server  # EVENTFOLD_WORKERS unset: one HTTP process per CPU
    for _ in range(6):
        assert httpx.get(f"{url}/no-such-route").status_code == 404
    operator = TokenIssuer.of_home(home).headers("ops", "operator")
    wanted = 'eventfold_http_requests_total{method="GET",route="unmatched",status="404"} 6.0'
    for _ in range(4):  # whichever process answers the scrape
        metrics = httpx.get(f"{url}/metrics", headers=operator)
        assert metrics.status_code == 200, metrics.text
        assert wanted in metrics.text
        assert 'eventfold_commands_total{outcome="committed"} 0.0' in metrics.text


@pytest.mark.parametrize(
    ("environ", "roles"),
    [
        ({"EVENTFOLD_WORKERS": "3"}, ["take-connections", "hand-over", "hand-over"]),
        ({"EVENTFOLD_WORKERS": "3", "EVENTFOLD_HANDOVER": "off"}, [None, None, None]),
        ({"EVENTFOLD_WORKERS": "1"}, [None]),
    ],
)
def test_connections_that_start_writing_are_handed_to_the_first_http_process(
    environ: dict[str, str], roles: list[str | None]
) -> None:
    socket_path = Path("/run/x/handover.sock")
    started = run_children(environ, handover_socket=socket_path)
    assert http_roles(started, ("--take-connections", "--hand-over"), socket_path) == roles
