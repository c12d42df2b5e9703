"""The router's CPU per reservation, subscription by subscription (issue 9's supporting
figure).

``bench/cpu_cost.py`` gives the router process's CPU as a whole under an HTTP load, where
one run's noise hides a change of a tenth. This bench asks where that CPU goes: it commits
``--reservations`` reservations (over 50 SKUs) through the service's own command handler
into a fresh home, then lets the router drain that backlog in this process, once per
subscription alone and once with every subscription together, each time on a fresh copy of
the filled home. The router is the one ``eventfold worker`` runs (the composition root's
feed, router state and subscriptions, default settings, local mail), without a load beside
it: a backlog fills every batch, so the linger never comes into it. ``--env`` sets router
settings, e.g. ``EVENTFOLD_ROUTER_TURN_WAIT=0`` (the subscriptions all deliver at once
instead of taking turns). The webhooks go to
``bench/pipeline.py``'s receiver, in its own process. Every run is checked: each e-mail in
the mail folder and each webhook at the receiver, once.

Printed and in ``bench/results/router_cost.json``: per subscription, the user and system
CPU this process spent per reservation while it drained, and the seconds it took.

    .venv/bin/python bench/router_cost.py [--reservations 10000] [--only NAME ...] [--keep]
        [--env EVENTFOLD_ROUTER_TURN_WAIT=0 ...]

The system CPU of the mail reaction is mostly the file system's work for a new file, and
it moves with where the mail folder lands: see ``docs/performance.md`` (fifteenth session)
before comparing two runs' figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from eventfold.core.app.ids import new_id
from eventfold.entry.cli.common import load_installed_services
from eventfold.entry.composition import router_parts, service_context
from eventfold.entry.context_reads import migrate_query_model
from eventfold.entry.logs import configure_logging
from eventfold.entry.settings import Settings, load_settings
from eventfold.entry.worker import subscriptions_of
from eventfold.errors import ConfigurationError
from pipeline import (
    RESULTS,
    SKUS,
    STORE,
    WEBHOOKS,
    MailFolder,
    Processes,
    Receiver,
    free_port,
    run_folder,
    settings_of,
    wait_healthy,
)
from reservations import app
from reservations.domain.reservation import RequestReservation
from reservations.domain.stock import SetStockLevel
from reservations.published_language import PROTOBUF_CODEC

ALL = "all together"


@dataclass
class Drain:
    subscription: str
    reservations: int
    seconds: float
    user_us: float  # per reservation
    system_us: float
    mails: int
    webhooks: int


def say(message: str) -> None:
    print(f"[router_cost {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def settings_for(
    home: Path,
    hooks_base: str,
    *,
    durability: str = "full",
    extra: Mapping[str, str] | None = None,
) -> Settings:
    hooks = ",".join(f"{w}={hooks_base}/{w}" for w in WEBHOOKS)
    return load_settings(
        {
            **(extra or {}),
            "EVENTFOLD_HOME": str(home),
            "EVENTFOLD_WEBHOOKS": hooks,
            "EVENTFOLD_DURABILITY": durability,
        }
    )


def fill(home: Path, hooks_base: str, reservations: int) -> None:
    """``reservations`` reservations over 50 SKUs, committed by the service's handler (no
    fsync each: the backlog's durability is not what is measured), and the query model's
    schema, as ``eventfold run`` applies it before it starts the router."""
    with service_context(settings_for(home, hooks_base, durability="normal")) as context:
        migrate_query_model(load_installed_services([]), context)
        handler = app.make_handler(context.store, PROTOBUF_CODEC)
        now = datetime.now(UTC)
        for sku in SKUS:
            app.set_stock_level(handler, SetStockLevel(STORE, sku, 1_000_000, now))
        for n in range(reservations):
            sku = SKUS[n % len(SKUS)]
            command = RequestReservation(new_id(), f"c{n % 997}", STORE, sku, 1, now)
            app.request_reservation(handler, command)


def drain(
    home: Path,
    receiver: Receiver,
    names: Sequence[str],
    reservations: int,
    extra: Mapping[str, str],
) -> Drain:
    """Route ``home``'s backlog through the subscriptions ``names`` until each is at the
    head: the CPU this process spent meanwhile, once every e-mail and webhook call of
    theirs is checked to have arrived once."""
    settings = settings_for(home, receiver.base, extra=extra)
    with service_context(settings) as context:
        chosen = [
            s for s in subscriptions_of(load_installed_services([]), context) if s.name in names
        ]
        parts = router_parts(settings, context.store)
        head = parts.feed.head()
        worker = parts.worker(chosen, context.store)
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        worker.start()
        try:
            while any(parts.checkpoints.checkpoint(s.name) != head for s in chosen):
                if time.perf_counter() - started > 600:
                    raise SystemExit(f"{', '.join(names)} did not drain in 10 minutes")
                time.sleep(0.005)
            after, took = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
        finally:
            worker.stop()
            parts.close()
    calls_before = receiver.count
    receiver.scan()
    mail = MailFolder(home / "mail")
    mail.scan()
    done = Drain(
        ", ".join(names) if len(names) == 1 else ALL,
        reservations,
        round(took, 3),
        round((after.ru_utime - before.ru_utime) * 1e6 / reservations, 1),
        round((after.ru_stime - before.ru_stime) * 1e6 / reservations, 1),
        len(mail.seen),
        receiver.count - calls_before,
    )
    expected_mails = reservations if "reservations_mail" in names else 0
    expected_calls = reservations * sum(
        n in names for n in ("reservations_staff", "reservations_inventory")
    )
    if (done.mails, done.webhooks) != (expected_mails, expected_calls):
        raise SystemExit(
            f"{done.subscription}: {done.mails} e-mails and {done.webhooks} webhook calls, "
            f"expected {expected_mails} and {expected_calls}"
        )
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reservations", type=int, default=10_000)
    parser.add_argument("--only", action="append", help="this subscription alone (repeatable)")
    parser.add_argument("--keep", action="store_true", help="leave the run's folder")
    parser.add_argument("--out", type=Path, default=RESULTS / "router_cost.json")
    parser.add_argument(
        "--env", action="append", default=[], help="a router setting, KEY=VALUE (repeatable)"
    )
    args = parser.parse_args(argv)
    if args.reservations < 1:
        parser.error("--reservations must be at least 1")
    extra = settings_of(args.env)
    try:
        load_settings(extra)
    except ConfigurationError as bad:
        parser.error(str(bad))
    configure_logging("error", json=False)  # not the services' warnings about absent partners
    with run_folder("eventfold-router-cost-", keep=args.keep) as tmp, Processes() as processes:
        hooks_port = free_port()
        hooks_log = tmp / "hooks.log"
        me = [sys.executable, str(Path(__file__).parent / "pipeline.py")]
        hooks = processes.start(
            "hooks", [*me, "_hooks", str(hooks_port)], dict(os.environ), hooks_log
        )
        hooks_base = f"http://127.0.0.1:{hooks_port}"
        wait_healthy(hooks_base, hooks, hooks_log, "/records")
        filled = tmp / "filled"
        with service_context(settings_for(filled, hooks_base)) as context:
            every = [s.name for s in subscriptions_of(load_installed_services([]), context)]
        unknown = sorted(set(args.only or ()) - set(every))
        if unknown:
            parser.error(f"no subscription {', '.join(unknown)}; there are: {', '.join(every)}")
        say(f"committing {args.reservations:,} reservations into {filled}")
        fill(filled, hooks_base, args.reservations)
        runs = [[name] for name in args.only or every] + ([] if args.only else [every])
        receiver = Receiver(hooks_base)
        drains: list[Drain] = []
        for number, names in enumerate(runs):
            home = tmp / f"run-{number}"
            shutil.copytree(filled, home)
            say(f"draining with {', '.join(names)}")
            drains.append(drain(home, receiver, names, args.reservations, extra))
    print(f"\n{args.reservations:,} reservations drained by the router, CPU of this process")
    print(f"{'subscription':<28} {'seconds':>8} {'user us':>8} {'sys us':>8}  (per reservation)")
    for d in drains:
        print(f"{d.subscription:<28} {d.seconds:>8.2f} {d.user_us:>8.1f} {d.system_us:>8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "env": args.env,
                "drains": [asdict(d) for d in drains],
            },
            indent=2,
        )
        + "\n"
    )
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
