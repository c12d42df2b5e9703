"""CPU time per reservation, per process of ``eventfold run`` (issue 9's supporting figure).

Throughput on a shared 2-core machine moves by ±30 % between runs; the CPU a process
spends per unit of work moves far less, because it does not count the time the process
waited for a core. This bench starts the service as ``bench/pipeline.py`` does (a real
``eventfold run``, a fresh home, the webhook receiver), sends ``--count`` reservations over
50 SKUs with a few keep-alive clients, waits until every e-mail and webhook arrived, and
prints, from ``/proc/<pid>/stat`` of each child of the supervisor:

- HTTP processes: user + system CPU ms per accepted command;
- their fsync helpers (each HTTP process's own child): the same, apart;
- the router process: CPU ms per completed reservation (projection, e-mail, two webhooks);

each also split into user and system time, with the bytes it wrote to disk and its write
system calls (``/proc/<pid>/io``; a commit writes whole pages to the WAL, one call each
for a frame's header and page).

    .venv/bin/python bench/cpu_cost.py [--count 3000] [--clients 8] [--workers 1] [--keep]
        [--profile DIR] [--env EVENTFOLD_ROUTER_LINGER=0.1 ...]

``--profile`` needs py-spy (``.venv/bin/pip install py-spy``); ``--keep`` leaves the run's
folder, as ``bench/pipeline.py --keep`` does, for runs back to back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import (
    ON_HAND,
    RESULTS,
    SKUS,
    STORE,
    WEBHOOKS,
    Http,
    MailFolder,
    Processes,
    Receiver,
    children,
    cpu_times,
    free_port,
    grown,
    mint_token,
    role,
    run_folder,
    say,
    wait_healthy,
    writes,
)


@dataclass(frozen=True)
class Usage:
    """What a process has used so far: CPU seconds (user, system), bytes it caused to be
    written to disk, write and read system calls (a read after another process's commit
    re-reads pages its SQLite page cache dropped), and context switches (the process's
    threads giving up the CPU, or made to)."""

    user: float
    system: float
    disk_writes: int
    write_calls: int
    read_calls: int
    switches: dict[str, float]  # by thread id: the kernel keeps no total for the process

    @classmethod
    def of(cls, pid: int) -> Usage:
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        user, system = cpu_times(pid)
        switches: dict[str, float] = {}
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                lines = (task / "status").read_text().splitlines()
                switches[task.name] = sum(
                    int(line.split()[1]) for line in lines if "ctxt_switches" in line
                )
        return cls(
            user, system, int(io["write_bytes"]), int(io["syscw"]), int(io["syscr"]), switches
        )

    def per(self, earlier: Usage, count: int) -> dict[str, float]:
        """This minus ``earlier``, per unit of ``count``."""
        return {
            "user_ms": round((self.user - earlier.user) * 1000 / count, 3),
            "system_ms": round((self.system - earlier.system) * 1000 / count, 3),
            "disk_write_kib": round((self.disk_writes - earlier.disk_writes) / 1024 / count, 1),
            "write_calls": round((self.write_calls - earlier.write_calls) / count, 1),
            "read_calls": round((self.read_calls - earlier.read_calls) / count, 1),
            "switches": round(grown(earlier.switches, self.switches) / count, 1),
        }


def summed(parts: list[dict[str, float]]) -> dict[str, float]:
    """The figures of several processes (of one role) added up; zeros when there are none."""
    keys = ("user_ms", "system_ms", "disk_write_kib", "write_calls", "read_calls", "switches")
    return {key: round(sum(part[key] for part in parts), 3) for key in keys}


def send(base: str, auth: str, count: int, clients: int) -> float:
    per = count // clients

    def client(number: int) -> None:
        http = Http(base, authorization=auth)
        for i in range(per):
            body = {"store_id": STORE, "sku": SKUS[(number + i) % len(SKUS)], "quantity": 1}
            status, answer = http.request("POST", "/reservations", body)
            if status != 201:
                raise SystemExit(f"POST /reservations answered {status}: {answer}")
        http.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="EVENTFOLD_WORKERS")
    parser.add_argument("--profile", type=Path, help="py-spy raw GIL profiles of each child here")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the service (repeatable), e.g. EVENTFOLD_ROUTER_LINGER=0.1",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the run's folder instead of deleting it, so that back-to-back runs "
        "don't pay for the previous run's mass delete (as bench/pipeline.py --keep)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "cpu_cost.json")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if args.profile and py_spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    count = args.count // args.clients * args.clients
    eventfold = Path(sys.executable).parent / "eventfold"
    me = [sys.executable, str(Path(__file__).with_name("pipeline.py"))]
    # The processes stop first: the service writes into the folder until it stops.
    with run_folder("eventfold-cpu-", keep=args.keep) as root, Processes() as processes:
        home = root / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFOLD_")}
        auth = mint_token(eventfold, {**env, "EVENTFOLD_HOME": str(home)})
        hooks_port = free_port()
        hooks = processes.start("hooks", [*me, "_hooks", str(hooks_port)], env, root / "h.log")
        hooks_base = f"http://127.0.0.1:{hooks_port}"
        wait_healthy(hooks_base, hooks, root / "h.log", "/records")
        port = free_port()
        service_env = {
            **env,
            "PORT": str(port),
            "EVENTFOLD_HOME": str(home),
            "EVENTFOLD_WORKERS": str(args.workers),
            "EVENTFOLD_WEBHOOKS": ",".join(f"{w}={hooks_base}/{w}" for w in WEBHOOKS),
            **dict(setting.split("=", 1) for setting in args.env),
        }
        service = processes.start("service", [str(eventfold), "run"], service_env, root / "s.log")
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, service, root / "s.log", "/healthz")
        client = Http(base, authorization=auth)
        for sku in SKUS:
            client.request("PUT", f"/stores/{STORE}/stock/{sku}", {"on_hand": ON_HAND})
        send(base, auth, len(SKUS) * 4, 4)  # warm up every code path once
        mail, receiver = MailFolder(home / "mail"), Receiver(hooks_base)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            mail.scan()
            receiver.scan()
            if len(mail.seen) >= len(SKUS) * 4 and receiver.count >= 2 * len(SKUS) * 4:
                break
            time.sleep(0.2)
        kids = {pid: role(pid) for pid in children(service.pid)}
        # An HTTP process's own child: the helper that fsyncs its commits (made by now).
        kids |= {h: "fsync" for pid, r in list(kids.items()) if r == "http" for h in children(pid)}
        before = {pid: Usage.of(pid) for pid in kids}
        spies: list[subprocess.Popen[bytes]] = []
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for pid, name in kids.items():
                out = args.profile / f"{name}-{pid}.txt"
                # GIL samples: where the Python-level CPU goes (py-spy's on-CPU mode counts
                # threads blocked in some system calls as busy).
                spy = [str(py_spy), "record", "-p", str(pid), "-r", "200", "--gil", "-f", "raw"]
                quiet = subprocess.DEVNULL
                spies.append(subprocess.Popen([*spy, "-o", str(out)], stdout=quiet, stderr=quiet))
        say(f"sending {count} reservations with {args.clients} clients to {kids}")
        seconds = send(base, auth, count, args.clients)
        http_after = {pid: Usage.of(pid) for pid, r in kids.items() if r == "http"}
        target_mail = len(SKUS) * 4 + count
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            mail.scan()
            receiver.scan()
            if len(mail.seen) >= target_mail and receiver.count >= 2 * target_mail:
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the router did not deliver every effect within 600 s")
        after = {pid: Usage.of(pid) for pid in kids}
        for running in spies:
            running.send_signal(signal.SIGINT)
            running.wait(30)
        http = summed([u.per(before[p], count) for p, u in http_after.items()])
        each = {}
        for pid, usage in http_after.items():
            part = usage.per(before[pid], count)
            name = f"{pid} (writer)" if writes(pid) else str(pid)
            each[name] = round(part["user_ms"] + part["system_ms"], 3)
        router = summed([after[p].per(before[p], count) for p, r in kids.items() if r == "router"])
        fsync = summed([after[p].per(before[p], count) for p, r in kids.items() if r == "fsync"])
        result: dict[str, Any] = {
            "count": count,
            "workers": args.workers,
            "env": args.env,
            "send_seconds": round(seconds, 2),
            "http_cpu_ms_per_command": round(http["user_ms"] + http["system_ms"], 3),
            "router_cpu_ms_per_reservation": round(router["user_ms"] + router["system_ms"], 3),
            # The HTTP processes' fsync helpers (docs/performance.md), not in the HTTP figure.
            "fsync_helper_cpu_ms_per_command": round(fsync["user_ms"] + fsync["system_ms"], 3),
            "http_per_command": http,
            # Each HTTP process's share (where the clients' connections landed decides it).
            "http_cpu_ms_per_command_each": each,
            "router_per_reservation": router,
        }
        print(json.dumps(result, indent=2))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        return 0


if __name__ == "__main__":
    sys.exit(main())
