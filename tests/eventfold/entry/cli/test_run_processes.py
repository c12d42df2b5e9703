"""``eventfold run``'s processes survive ``kill -9`` of any one of them: a dead HTTP or
router process is started again, and when the supervisor dies its children stop. With
EVENTFOLD_ONE_WRITER=on, the first HTTP process (the writer) commits the commands the other
one takes."""

from __future__ import annotations

import http.client as http_client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eventfold.entry.http.forwarding import RECONNECT_AFTER_SECONDS
from eventfold.testing import TokenIssuer
from tests.eventfold.entry.cli.test_run import EVENTFOLD, environment, stop
from tests.loopback import free_port
from tests.processes import alive, living_children
from tests.waiting import eventually

pytestmark = pytest.mark.slow


def children_of(pid: int) -> dict[str, list[int]]:
    """The supervisor's living children by role (``router``; ``http``, or ``writer`` and
    ``forwarder`` with EVENTFOLD_ONE_WRITER=on), from /proc."""
    found: dict[str, list[int]] = {}
    for child in living_children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        role = (
            "router"
            if b"worker" in argv
            else "writer"
            if b"--serve-writes" in argv
            else "forwarder"
            if b"--forward-writes" in argv
            else "http"
            if b"serve-http" in argv
            else "?"
        )
        found.setdefault(role, []).append(child)
    return found


def start_run(home: Path, port: int, **settings: str) -> subprocess.Popen[str]:
    env = environment(
        home, port, EVENTFOLD_SERVICES="reservations", EVENTFOLD_WORKERS="2", **settings
    )
    del env["EVENTFOLD_SMTP_PORT"]  # the default: local mail is a folder, no port
    process = subprocess.Popen(
        [str(EVENTFOLD), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, process.communicate()[1]
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    eventually("eventfold run to answer /healthz", healthy)
    wanted = (
        {"router", "writer", "forwarder"}
        if settings.get("EVENTFOLD_ONE_WRITER")
        else {
            "router",
            "http",
        }
    )
    eventually("the router and HTTP processes", lambda: wanted <= set(children_of(process.pid)))
    return process


@pytest.fixture
def served(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """``eventfold run`` with two HTTP processes; ``indirect`` parameters: its settings."""
    port = free_port()
    home = tmp_path / "data"
    process = start_run(home, port, **getattr(request, "param", {}))
    try:
        yield process, f"http://127.0.0.1:{port}", home
    finally:
        stop(process)


def staff_client(url: str, home: Path) -> httpx.Client:
    """A client of the inventory feed and staff of store s1 (tokens signed with the key
    ``eventfold run`` made in ``home``)."""
    headers = TokenIssuer.of_home(home).headers("s1-staff", "inventory", "staff", stores=["s1"])
    return httpx.Client(base_url=url, headers=headers)


def reserve(client: httpx.Client, n: int, home: Path) -> str | None:
    """One reservation of customer ``c-<n>``; its id when the service acknowledged it
    (None: not acknowledged, e.g. the connection went down with a killed process)."""
    body = {"store_id": "s1", "sku": "tea", "quantity": 1}
    customer = TokenIssuer.of_home(home).headers(f"c-{n}", "customer")
    try:
        response = client.post("/reservations", json=body, headers=customer, timeout=10)
    except httpx.TransportError:
        return None
    return str(response.json()["reservation_id"]) if response.status_code == 201 else None


def stored_reservations(home: Path) -> set[str]:
    with sqlite3.connect(home / "eventfold.db") as db:
        rows = db.execute(
            "SELECT stream_id FROM events WHERE type = 'ReservationAccepted'"
        ).fetchall()
    return {stream.removeprefix("reservation-") for (stream,) in rows}


NAMES = {
    "writer": "the http-1",
    "http": "the http-",
    "router": "the router",
}
"""The name the supervisor gives each in what it says."""


ONE_WRITER = {"EVENTFOLD_ONE_WRITER": "on"}


def stocked_and_reserved(client: httpx.Client, home: Path, count: int) -> list[str]:
    """Stock at s1, then ``count`` reservations of it: the ids of those acknowledged."""
    assert client.put("/stores/s1/stock/tea", json={"on_hand": 1000}).status_code == 200
    return [r for r in (reserve(client, n, home) for n in range(count)) if r is not None]


@pytest.mark.parametrize(
    ("served", "victim"),
    [({}, "http"), ({}, "router"), (ONE_WRITER, "writer")],
    indirect=["served"],
)
def test_a_killed_child_is_started_again_and_nothing_acknowledged_is_lost(
    served: tuple[subprocess.Popen[str], str, Path], victim: str
) -> None:
    process, url, home = served
    with staff_client(url, home) as client:
        acknowledged = stocked_and_reserved(client, home, 20)
        before = children_of(process.pid)[victim]
        killed = before[0]
        os.kill(killed, signal.SIGKILL)

        def replaced() -> bool:
            now = children_of(process.pid).get(victim, [])
            return killed not in now and len(now) == len(before)

        eventually(f"a new {victim} process in place of the killed one", replaced)
        # New connections reach a living HTTP process; the router resumes its checkpoint.
        acknowledged += filter(None, (reserve(client, n, home) for n in range(20, 60)))
        last = acknowledged[-1]
        eventually(
            "the query model to show the last reservation",
            lambda: (
                client.get(f"/reservations/{last}", params={"min_version": 1}).status_code == 200
            ),
        )
    assert len(acknowledged) >= 55
    assert set(acknowledged) <= stored_reservations(home)
    assert process.poll() is None
    _, err = stop(process)
    assert process.returncode == 0, err
    assert NAMES[victim] in err
    assert "killed by SIGKILL" in err


def fsync_helpers(process: subprocess.Popen[str]) -> list[int]:
    """The living WAL sync helpers of ``eventfold run``'s HTTP processes."""
    return [
        pid for http in children_of(process.pid).get("http", []) for pid in living_children(http)
    ]


def test_a_killed_fsync_helper_leaves_its_http_process_syncing_until_a_new_one_runs(
    served: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, home = served
    with staff_client(url, home) as client:
        acknowledged = stocked_and_reserved(client, home, 5)
        killed = eventually("an HTTP process's fsync helper", lambda: fsync_helpers(process))
        for helper in killed:
            os.kill(helper, signal.SIGKILL)
        # Answered all along; after a few seconds of syncing itself, a new helper runs.
        for n in range(5, 25):
            acknowledged.append(reserve(client, n, home) or "")

        def a_new_helper_after_one_more() -> set[int]:
            acknowledged.append(reserve(client, len(acknowledged), home) or "")
            return set(fsync_helpers(process)) - set(killed)

        eventually("a new fsync helper", a_new_helper_after_one_more)
    assert "" not in acknowledged  # every command acknowledged ...
    assert set(acknowledged) <= stored_reservations(home)  # ... and stored
    _, err = stop(process)
    assert process.returncode == 0, err
    assert "background_sync_failed" in err


def test_the_router_yields_the_cpu_to_the_http_processes_when_told_to(tmp_path: Path) -> None:
    process = start_run(tmp_path / "data", free_port(), EVENTFOLD_ROUTER_NICE="7")
    try:
        roles = children_of(process.pid)
        supervisor = os.getpriority(os.PRIO_PROCESS, process.pid)
        assert os.getpriority(os.PRIO_PROCESS, roles["router"][0]) == min(19, supervisor + 7)
        for http in roles["http"]:
            assert os.getpriority(os.PRIO_PROCESS, http) == supervisor
    finally:
        stop(process)


@pytest.mark.parametrize("served", [ONE_WRITER], indirect=True)
def test_commands_taken_by_the_second_http_process_are_committed_by_the_writer(
    served: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, home = served
    roles = children_of(process.pid)
    writer = roles["writer"][0]
    argv = Path(f"/proc/{writer}/cmdline").read_bytes().split(b"\0")
    writer_socket = Path(argv[argv.index(b"--serve-writes") + 1].decode())
    eventually("the writer's socket", writer_socket.exists)
    # A command that landed on the other process before the writer listened had it commit
    # by itself (and wait this long before asking the writer again).
    time.sleep(RECONNECT_AFTER_SECONDS)
    with staff_client(url, home) as client:
        assert client.put("/stores/s1/stock/tea", json={"on_hand": 10}).status_code == 200
    os.kill(writer, signal.SIGSTOP)  # new connections now land on the other process
    try:
        with staff_client(url, home) as client:
            assert client.get("/healthz", timeout=10).status_code == 200  # reads: served there
            with pytest.raises(httpx.TimeoutException):  # a command: waits for the writer
                client.post(
                    "/reservations",
                    json={"store_id": "s1", "sku": "tea", "quantity": 1},
                    headers=TokenIssuer.of_home(home).headers("c-1", "customer"),
                    timeout=2,
                )
        assert stored_reservations(home) == set()
    finally:
        os.kill(writer, signal.SIGCONT)
    eventually("the writer to commit the handed-over command", lambda: stored_reservations(home))


def test_the_children_stop_when_the_supervisor_is_killed_and_a_restart_works(
    tmp_path: Path,
) -> None:
    home = tmp_path / "data"
    for port in (free_port(), free_port()):
        process = start_run(home, port)
        children = [pid for pids in children_of(process.pid).values() for pid in pids]
        process.kill()
        process.wait(30)
        eventually("the children to stop", lambda: not any(alive(pid) for pid in children))  # noqa: B023
        assert process.stderr is not None
        process.stderr.close()
    final = start_run(home, port)  # its ports and the file are free again
    _, err = stop(final)
    assert final.returncode == 0, err


def test_a_child_that_keeps_dying_stops_the_service(tmp_path: Path) -> None:
    from eventfold.entry.processes import CRASHES_TOLERATED, Child, Supervisor

    said: list[str] = []
    dying = Child("doomed", [sys.executable, "-c", "raise SystemExit(3)"])
    code = Supervisor([dying], said.append).run(check_every=0.05)
    assert code == 1
    assert sum("ended (exit code 3)" in line for line in said) == CRASHES_TOLERATED - 1
    assert "died 5 times" in said[-1]


def squat_beside(squatter: socket.socket) -> int:
    """A free PORT whose PORT + 25 ``squatter`` now listens on."""
    for _ in range(50):
        port = free_port()
        try:
            squatter.bind(("127.0.0.1", port + 25))
        except OSError:
            continue
        squatter.listen()
        return port
    pytest.fail("no free port pair found")


def test_a_taken_mail_port_does_not_keep_the_service_from_starting(tmp_path: Path) -> None:
    home = tmp_path / "data"
    # PORT + 25 was the local SMTP sink's port, and a restart failed when something held it;
    # local mail is a folder now, so no second port can keep the service from starting.
    with socket.socket() as squatter:
        port = squat_beside(squatter)
        process = start_run(home, port)
        try:
            with staff_client(f"http://127.0.0.1:{port}", home) as client:
                client.put("/stores/s1/stock/tea", json={"on_hand": 5}).raise_for_status()
                assert reserve(client, 1, home) is not None
            eventually("the e-mail in the mail folder", lambda: list((home / "mail").glob("*.eml")))
        finally:
            _, err = stop(process)
    assert process.returncode == 0, err


def owner_of(server_port: int, client_port: int, candidates: list[int]) -> int | None:
    """Which of ``candidates`` holds the server's end of the loopback TCP connection from
    ``client_port`` (its socket's inode in /proc/net/tcp, then in each one's open files)."""
    inode = None
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == server_port and (
                int(remote.split(":")[1], 16) == client_port
            ):
                inode = fields[9]
    for pid in candidates:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    return None


def test_connections_that_start_writing_are_served_by_the_first_http_process(
    served: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, url, home = served
    http = children_of(process.pid)["http"]
    writer = next(
        pid for pid in http if b"--take-connections" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    port = int(url.rsplit(":", 1)[1])
    headers = {
        **TokenIssuer.of_home(home).headers("s1-staff", "inventory", stores=["s1"]),
        "Content-Type": "application/json",
    }
    connections = [http_client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(12)]
    try:
        for n, connection in enumerate(connections):  # the kernel spreads them
            connection.request("PUT", f"/stores/s1/stock/sku-{n}", b'{"on_hand": 5}', headers)
            answer = connection.getresponse()
            assert answer.status == 200, answer.read()
            answer.read()
            connection.request("GET", "/healthz")  # the same connection, later
            assert connection.getresponse().status == 200
        assert connections[0].sock is not None
        client_ports = [c.sock.getsockname()[1] for c in connections if c.sock is not None]
        assert {owner_of(port, client_port, http) for client_port in client_ports} == {writer}
    finally:
        for connection in connections:
            connection.close()
