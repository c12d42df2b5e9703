"""What FastAPI's dependency solving costs per request, by the shape of a route's dependencies
(issue 9: a fifth of a command's CPU in the HTTP process is dependency solving).

One in-process FastAPI app, no server, no network: each route takes the same JSON body and
answers the same small object; only what the route depends on differs. The ASGI app is
called directly, so the figures are CPU microseconds per request of FastAPI alone (routing,
body validation, dependencies, the response), the median of ``--rounds``:

- ``chained``: the shape ``CommandOrigin`` had until 2026-12-06 (an origin depending on
  the caller, which depends on an ``HTTPBearer`` security scheme; the ``Idempotency-Key``
  as a ``Header``);
- ``plain-caller``: the shape it has now: the same, but the caller reads the token from
  the header itself (no ``Security`` dependency; the OpenAPI document declares the bearer
  scheme another way: ``callers.document_callers``). The caller stays a sub-dependency so
  that it is authenticated before the key's checks (401 before 422);
- ``no-middle``: the origin takes the security scheme and the header itself;
- ``header-only``: one dependency with the ``Header`` parameter, reading the token itself
  (a bad key would then be a 422 before a missing token is a 401);
- ``flat``: one dependency reading both headers itself (the header's checks would then
  no longer be listed with the body's in one 422);
- ``body-only``: no dependency at all.

    .venv/bin/python bench/dependency_cost.py [--requests 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

RESULTS = Path(__file__).parent / "results"


class Body(BaseModel):
    store_id: str
    sku: str
    quantity: int


_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
Key = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


async def caller(request: Request, credentials: Credentials) -> str:
    return credentials.credentials if credentials else ""


async def origin(request: Request, actor: Annotated[str, Depends(caller)], key: Key = None) -> Any:
    return (actor, key)


async def caller_from_header(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2]


async def origin_on_plain_caller(
    request: Request, actor: Annotated[str, Depends(caller_from_header)], key: Key = None
) -> Any:
    return (actor, key)


async def origin_without_middle(request: Request, credentials: Credentials, key: Key = None) -> Any:
    return (credentials.credentials if credentials else "", key)


async def origin_with_header(request: Request, key: Key = None) -> Any:
    return (request.headers.get("authorization", "").partition(" ")[2], key)


async def origin_flat(request: Request) -> Any:
    headers = request.headers
    return (headers.get("authorization", "").partition(" ")[2], headers.get("idempotency-key"))


def app() -> FastAPI:
    made = FastAPI()

    @made.post("/chained", status_code=201)
    async def full(body: Body, o: Annotated[Any, Depends(origin)]) -> dict[str, int]:
        return {"ok": 1}

    @made.post("/plain-caller", status_code=201)
    async def plain(
        body: Body, o: Annotated[Any, Depends(origin_on_plain_caller)]
    ) -> dict[str, int]:
        return {"ok": 1}

    @made.post("/no-middle", status_code=201)
    async def middle(
        body: Body, o: Annotated[Any, Depends(origin_without_middle)]
    ) -> dict[str, int]:
        return {"ok": 1}

    @made.post("/header-only", status_code=201)
    async def header(body: Body, o: Annotated[Any, Depends(origin_with_header)]) -> dict[str, int]:
        return {"ok": 1}

    @made.post("/flat", status_code=201)
    async def flat(body: Body, o: Annotated[Any, Depends(origin_flat)]) -> dict[str, int]:
        return {"ok": 1}

    @made.post("/body-only", status_code=201)
    async def body_only(body: Body) -> dict[str, int]:
        return {"ok": 1}

    return made


PAYLOAD = b'{"store_id": "s1", "sku": "tea-01", "quantity": 1}'
SHAPES = ("chained", "plain-caller", "no-middle", "header-only", "flat", "body-only")


def scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer header.payload.signature"),
            (b"idempotency-key", b"order-1"),
            (b"content-length", str(len(PAYLOAD)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


async def cost_us(target: FastAPI, path: str, requests: int) -> float:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": PAYLOAD, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(200):  # warm up
        await target(scope(path), receive, send)
    started = time.process_time()
    for _ in range(requests):
        await target(scope(path), receive, send)
    spent = time.process_time() - started
    if set(statuses) != {201}:
        raise SystemExit(f"{path} answered {sorted(set(statuses))}, not only 201")
    return spent / requests * 1e6


async def measure(requests: int, rounds: int) -> dict[str, float]:
    target = app()
    samples: dict[str, list[float]] = {shape: [] for shape in SHAPES}
    for _ in range(rounds):
        for shape in SHAPES:  # interleaved, so a noisy moment hits every shape
            samples[shape].append(await cost_us(target, f"/{shape}", requests))
    return {shape: round(statistics.median(values), 1) for shape, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "dependency_cost.json"))
    args = parser.parse_args()
    result = asyncio.run(measure(args.requests, args.rounds))
    base = result["body-only"]
    print(f"{'dependency shape':<14} {'us/request':>11} {'over body-only':>15}")
    for shape, us in result.items():
        print(f"{shape:<14} {us:>11.1f} {us - base:>+15.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as file:
        json.dump({"us_per_request": result, "requests": args.requests}, file, indent=2)


if __name__ == "__main__":
    main()
