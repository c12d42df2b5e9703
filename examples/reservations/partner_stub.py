"""A stand-in for the external inventory partner's hold API, for tests and local runs.

    POST   /holds               {reservation_id, store_id, sku, quantity, hold_until}
                                -> 201 {"hold_id"}; 409 problem+json when it refuses
    DELETE /holds/{hold_id}     -> 204 (released; again: 204); 404 unknown hold
    POST   /holds/{hold_id}/confirm -> 200 {"hold_id", "status": "confirmed"}
    GET    /holds               every hold and its status
    GET    /calls               its own record of every call (method, path, key, status,
                                whether it was a replay of an earlier key)
    PUT    /switches            {"refuse": "sold out" | null, "fail": bool, "slow": seconds,
                                 "sold_out": [SKUs]}
    POST   /reset               forget everything (tests)

Every write needs an ``Idempotency-Key`` header: a key seen before gets the first answer
again and changes nothing (recorded with ``replay: true``). Switches: ``refuse`` answers new
holds 409 with that reason (``sold_out``: new holds of those SKUs, "sold out"), ``fail``
answers every write 503 (nothing changes), ``slow`` waits that long before answering.

Run it on its own: ``python -m reservations.partner_stub --port 8100`` and start the service
with ``EVENTFOLD_WEBHOOKS=reservations-partner=http://127.0.0.1:8100``.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

PROBLEM = "application/problem+json"


@dataclass
class Switches:
    refuse: str | None = None
    fail: bool = False
    slow: float = 0.0
    sold_out: tuple[str, ...] = ()
    """SKUs it refuses to hold ("sold out"), whatever ``refuse`` says."""


@dataclass
class Hold:
    hold_id: str
    reservation_id: str
    quantity: int
    status: str = "held"


@dataclass
class CallRecord:
    method: str
    path: str
    idempotency_key: str
    status: int
    replay: bool = False
    hold_id: str = ""


@dataclass
class PartnerState:
    """What the partner knows; one lock around every change."""

    switches: Switches = field(default_factory=Switches)
    holds: dict[str, Hold] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    answers: dict[str, tuple[int, dict[str, Any] | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class HoldRequest(BaseModel):
    reservation_id: str
    store_id: str
    sku: str
    quantity: int
    hold_until: str


class SwitchesBody(BaseModel):
    refuse: str | None = None
    fail: bool = False
    slow: float = 0.0
    sold_out: tuple[str, ...] = ()


def _answer(status: int, body: dict[str, Any] | None) -> Response:
    if body is None:
        return Response(status_code=status)
    media = PROBLEM if status >= 400 else "application/json"
    return JSONResponse(body, status_code=status, media_type=media)


def _hold_of(path: str, body: dict[str, Any] | None) -> str:
    """The hold a call is about: in the answer of a POST /holds, else in its path."""
    parts = path.split("/")
    return str((body or {}).get("hold_id") or (parts[2] if len(parts) > 2 else ""))


def partner_app(state: PartnerState | None = None) -> FastAPI:
    """The partner's HTTP API over ``state`` (a fresh one when None)."""
    partner = state or PartnerState()
    app = FastAPI(title="inventory partner (stub)")
    app.state.partner = partner

    def write(
        method: str, path: str, key: str | None, change: Any
    ) -> tuple[int, dict[str, Any] | None]:
        if partner.switches.slow:
            time.sleep(partner.switches.slow)
        with partner.lock:
            if not key:
                return 400, {"title": "an Idempotency-Key header is required", "status": 400}
            if key in partner.answers:
                status, body = partner.answers[key]
                hold = _hold_of(path, body)
                partner.calls.append(CallRecord(method, path, key, status, True, hold))
                return status, body
            if partner.switches.fail:
                partner.calls.append(CallRecord(method, path, key, 503))
                return 503, {"title": "temporarily unavailable", "status": 503}
            status, body = change()
            if status < 500:
                partner.answers[key] = (status, body)
            partner.calls.append(CallRecord(method, path, key, status, False, _hold_of(path, body)))
            return status, body

    @app.post("/holds")
    def place(body: HoldRequest, idempotency_key: str | None = Header(None)) -> Response:
        def change() -> tuple[int, dict[str, Any] | None]:
            sold_out = body.sku in partner.switches.sold_out
            if partner.switches.refuse or sold_out:
                reason = "sold out" if sold_out else str(partner.switches.refuse)
                return 409, {"title": reason, "status": 409, "detail": reason}
            hold_id = f"h-{uuid.uuid4().hex[:12]}"
            partner.holds[hold_id] = Hold(hold_id, body.reservation_id, body.quantity)
            return 201, {"hold_id": hold_id}

        return _answer(*write("POST", "/holds", idempotency_key, change))

    def _change_hold(hold_id: str, status: str, code: int) -> tuple[int, dict[str, Any] | None]:
        hold = partner.holds.get(hold_id)
        if hold is None:
            return 404, {"title": f"no hold {hold_id}", "status": 404}
        if hold.status == "held":
            hold.status = status
        elif hold.status != status:
            return 409, {"title": f"hold {hold_id} is {hold.status}", "status": 409}
        return code, None if code == 204 else {"hold_id": hold_id, "status": hold.status}

    @app.delete("/holds/{hold_id}")
    def release(hold_id: str, idempotency_key: str | None = Header(None)) -> Response:
        path = f"/holds/{hold_id}"
        return _answer(
            *write("DELETE", path, idempotency_key, lambda: _change_hold(hold_id, "released", 204))
        )

    @app.post("/holds/{hold_id}/confirm")
    def confirm(hold_id: str, idempotency_key: str | None = Header(None)) -> Response:
        path = f"/holds/{hold_id}/confirm"
        return _answer(
            *write("POST", path, idempotency_key, lambda: _change_hold(hold_id, "confirmed", 200))
        )

    @app.get("/holds")
    def holds() -> list[dict[str, Any]]:
        with partner.lock:
            return [asdict(h) for h in partner.holds.values()]

    @app.get("/calls")
    def calls() -> list[dict[str, Any]]:
        with partner.lock:
            return [asdict(c) for c in partner.calls]

    @app.put("/switches")
    def switches(body: SwitchesBody) -> dict[str, Any]:
        with partner.lock:
            partner.switches = Switches(body.refuse, body.fail, body.slow, body.sold_out)
            return asdict(partner.switches)

    @app.post("/reset", status_code=204)
    def reset(request: Request) -> None:
        with partner.lock:
            partner.holds.clear()
            partner.calls.clear()
            partner.answers.clear()
            partner.switches = Switches()

    return app


def main() -> None:  # pragma: no cover - a developer's tool
    import uvicorn

    parser = argparse.ArgumentParser(description="the inventory partner's hold API (stub)")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(partner_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    main()
