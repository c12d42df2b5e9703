"""``eventfold run``'s processes: a supervisor and the children it keeps running.

One GIL cannot serve HTTP and route every event at the rate the store commits (measured:
the router threads held 37 % of the GIL samples of a single-process server, and the
process sat at 100 % of one core with the machine 42 % idle). So ``eventfold run`` is a
small supervisor that starts

- ``EVENTFOLD_WORKERS`` HTTP processes sharing one listening socket (the kernel spreads
  connections over them), and
- one router process (``eventfold worker``) unless ``EVENTFOLD_ROUTER=off``,

all writing to the same SQLite file, queued on its :class:`FileWriteGate` (or, with
EVENTFOLD_ONE_WRITER=on, the first HTTP process committing the commands the others take:
:mod:`eventfold.entry.http.forwarding`). One command
starts everything, one Ctrl-C (or SIGTERM to the supervisor) stops everything, and every
process writes to the same stderr. A child that dies (a crash, ``kill -9``) is started
again; nothing it acknowledged is lost, since an acknowledged command is a committed
transaction and the router resumes from its checkpoint. A child that keeps dying stops
the whole service with exit code 1 rather than looping. Children watch the supervisor in
turn: when it dies, they stop by themselves (:func:`exit_with_parent`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

CRASH_WINDOW_SECONDS = 60.0
CRASHES_TOLERATED = 5
"""A child that dies this many times within CRASH_WINDOW_SECONDS stops the service."""
STOP_TIMEOUT_SECONDS = 20.0
"""How long children may take to stop gracefully before they are killed."""

Say = Callable[[str], None]
"""Where the supervisor reports (one line each): the console's stderr."""


@dataclass
class Child:
    """One process the supervisor keeps running: its name, command line and the file
    descriptors it inherits (the listening socket)."""

    name: str
    argv: Sequence[str]
    pass_fds: tuple[int, ...] = ()
    env: Mapping[str, str] | None = None
    nice: int = 0
    """Added to the supervisor's nice value for this child (how far it yields the CPU)."""
    process: subprocess.Popen[bytes] | None = None
    deaths: deque[float] = field(default_factory=lambda: deque(maxlen=CRASHES_TOLERATED))

    def start(self) -> None:
        self.process = subprocess.Popen(
            list(self.argv),
            pass_fds=self.pass_fds,
            env=None if self.env is None else dict(self.env),
            # Ctrl-C reaches the whole foreground group; stdin is the supervisor's only.
            stdin=subprocess.DEVNULL,
        )
        if self.nice:
            own = os.getpriority(os.PRIO_PROCESS, 0)
            with contextlib.suppress(ProcessLookupError):  # it died at once: restarted later
                os.setpriority(os.PRIO_PROCESS, self.process.pid, min(19, own + self.nice))

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def exited(self) -> int | None:
        """The exit code if the child has ended (negative: killed by that signal)."""
        return None if self.process is None else self.process.poll()


def eventfold_command(*args: str) -> list[str]:
    """The command line of an ``eventfold`` subcommand run by this interpreter."""
    return [sys.executable, "-m", "eventfold.entry.cli.main", *args]


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Starts the children, restarts one that dies, and stops them all on SIGINT/SIGTERM.

    :meth:`run` blocks until then and returns the exit code for the command: 0 after a
    requested stop, 1 when a child kept dying."""

    def __init__(self, children: Sequence[Child], say: Say) -> None:
        self.children = list(children)
        self.say = say
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to stop the children and return (signal-handler safe)."""
        self._stopping.set()

    def run(self, *, check_every: float = 0.2) -> int:
        previous = {
            signum: signal.signal(signum, lambda *_: self._stopping.set())
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        code = 0
        try:
            for child in self.children:
                child.start()
            while not self._stopping.wait(check_every):
                failed = self._restart_the_dead()
                if failed is not None:
                    self.say(
                        f"eventfold: the {failed.name} process died {CRASHES_TOLERATED} times "
                        f"within {CRASH_WINDOW_SECONDS:.0f} s; stopping (see its errors above)"
                    )
                    code = 1
                    break
        finally:
            self._stop_children()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return code

    def _restart_the_dead(self) -> Child | None:
        """Restart every child that ended; the first one that keeps dying, if any."""
        for child in self.children:
            code = child.exited()
            if code is None:
                continue
            now = time.monotonic()
            child.deaths.append(now)
            if (
                len(child.deaths) == CRASHES_TOLERATED
                and now - child.deaths[0] < CRASH_WINDOW_SECONDS
            ):
                return child
            self.say(
                f"eventfold: the {child.name} process (pid {child.pid}) ended "
                f"({describe_exit(code)}); starting it again"
            )
            child.start()
        return None

    def _stop_children(self) -> None:
        running = [c for c in self.children if c.process is not None and c.exited() is None]
        for child in running:
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"eventfold: the {child.name} process did not stop in time; killing it")
                child.process.kill()
                child.process.wait()


COLLECTOR_THRESHOLDS = (10_000, 20, 20)
"""``gc.set_threshold`` of a long-running child (the default is 700, 10, 10)."""


def prepare_heap_for_serving() -> None:
    """Take every object alive now out of the garbage collector's full collections
    (``gc.freeze``), once a long-running child has started: its modules, app and models
    live as long as it does, and each full collection walked them all again. Measured in
    an HTTP process under load: full collections of 60-100 ms, a few each second, stalled
    the event loop (p99 90 ms); frozen, 6-10 ms (p99 17-25 ms).

    Then collect the youngest objects every :data:`COLLECTOR_THRESHOLDS` [0] allocations
    instead of 700: a request's objects are freed by reference counting long before, so the
    collector mostly walked the same few survivors again. Measured on the reservation
    service's app in-process, 4,000 commands a round, ten alternating rounds: 321 -> 298 us
    of CPU per command (means); `eventfold run` under bench/cpu_cost.py, three pairs: HTTP
    0.472 -> 0.448 ms per command (means)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def exit_with_parent(parent_pid: int, *, check_every: float = 0.5) -> None:
    """Send this process SIGTERM (a graceful stop) once ``parent_pid`` is no longer its
    parent: the supervisor died, even by ``kill -9``, and nobody would stop this child."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(check_every)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="eventfold-parent-watch", daemon=True).start()
