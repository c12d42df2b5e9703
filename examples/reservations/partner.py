"""The inventory partner's hold API, as the partner-hold saga calls it (httpx).

Answers: 2xx is done; 409 / 410 / 422 are the partner's business "no" (sold out, unknown
SKU): CallRefused, the saga decides what follows; 404 on a release means there is nothing
held (CallRefused too: the compensation is settled, not retried); 5xx, 408, 429 and
transport errors are retried by the router (then parked); any other 4xx is a mistake on our
side and parks at once. Every call sends the runner's idempotency key as
``Idempotency-Key``: the partner answers a repeated key with its first answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from eventfold import DeliveryFailed
from eventfold.targets import EffectPerformer, Email
from eventfold.workflows import CallPerformer, CallRefused
from reservations.domain.partner_hold import ConfirmHold, MailHoldRefused, PlaceHold, ReleaseHold

REFUSING = frozenset({409, 410, 422})
RETRYABLE_4XX = frozenset({408, 425, 429})
CUSTOMER_MAIL_DOMAIN = "customers.example"


class PartnerClient:
    """Calls the partner at ``base_url`` (one connection pool; ``timeout`` seconds a call)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _send(
        self, method: str, path: str, key: str, body: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        shown = f"partner {method} {path}"
        try:
            response = self.http.request(method, path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{shown}: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status < 400:
            return response
        reason = _reason(response)
        if status in REFUSING or (status == 404 and method == "DELETE"):
            raise CallRefused(reason)
        detail = f"{shown} answered {status}: {reason}"
        raise DeliveryFailed(detail, retryable=status >= 500 or status in RETRYABLE_4XX)

    def place(self, request: PlaceHold, key: str) -> dict[str, Any]:
        body = {
            "reservation_id": request.reservation_id,
            "store_id": request.store_id,
            "sku": request.sku,
            "quantity": request.quantity,
            "hold_until": request.hold_until.isoformat(),
        }
        answer = self._send("POST", "/holds", key, body).json()
        if not isinstance(answer, dict) or not answer.get("hold_id"):
            raise DeliveryFailed(f"partner POST /holds answered no hold_id: {answer!r}")
        return {"hold_id": str(answer["hold_id"])}

    def release(self, request: ReleaseHold, key: str) -> dict[str, Any]:
        self._send("DELETE", f"/holds/{request.hold_id}", key)
        return {"released": request.hold_id}

    def confirm(self, request: ConfirmHold, key: str) -> dict[str, Any]:
        self._send("POST", f"/holds/{request.hold_id}/confirm", key)
        return {"confirmed": request.hold_id}

    def performers(self) -> dict[type, CallPerformer]:
        return {PlaceHold: self.place, ReleaseHold: self.release, ConfirmHold: self.confirm}


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]


def refusal_mailer(send: EffectPerformer) -> CallPerformer:
    """E-mails the customer that the partner could not hold their units (through the
    service's mail performer, with the runner's idempotency key as the mail's key)."""

    def mail(request: MailHoldRefused, key: str) -> None:
        body = (
            f"We are sorry: your reservation {request.reservation_id} could not be held "
            f"({request.reason}). Its units were released and nothing will be kept for you.\n"
        )
        to = (f"{request.customer_id}@{CUSTOMER_MAIL_DOMAIN}",)
        subject = f"Reservation {request.reservation_id} could not be held"
        send(Email("hold_refused", to, subject, body), key)

    return mail
