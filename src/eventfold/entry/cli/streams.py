"""``eventfold events STREAM``: what happened to one stream, decoded for people."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import ACTOR, ACTOR_ROLES, IDEMPOTENCY_KEY, RecordedEvent
from eventfold.entry.cli.common import cli_context, fail, flag, require_home
from eventfold.entry.operations import codecs_by_category
from eventfold.entry.settings import open_store
from eventfold.errors import CodecError


def payload_json(event: RecordedEvent, codecs: Mapping[str, EventCodec]) -> Any:
    """The payload as JSON: by the codec of the service owning the stream's category, or
    as stored when no installed service owns it (base64 when not JSON)."""
    codec = codecs.get(event.category)
    if codec is not None:
        try:
            return codec.to_json(event)
        except CodecError as exc:
            return {"undecodable": str(exc)}
    try:
        return json.loads(event.data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"base64": base64.b64encode(event.data).decode()}


def as_record(event: RecordedEvent, payload: Any) -> dict[str, Any]:
    return {
        "stream_id": event.stream_id,
        "version": event.version,
        "type": event.type,
        "schema": event.schema,
        "recorded_at": event.recorded_at.isoformat(),
        "payload": payload,
        "metadata": dict(event.metadata),
    }


def actor_of(event: RecordedEvent) -> str:
    """Who sent the command that recorded ``event`` (roles and subject), and the
    Idempotency-Key they sent; "-" for events stored before the audit trail existed."""
    meta = event.metadata
    if ACTOR not in meta:
        return "-"
    who = f"{meta.get(ACTOR_ROLES, '')} {meta[ACTOR]}".strip()
    key = meta.get(IDEMPOTENCY_KEY)
    return f"{who} (key {key})" if key else who


def events(
    ctx: typer.Context,
    stream: str = typer.Argument(help="The stream id, '<category>-<entity id>'."),
    json_lines: bool = flag(
        False, "--json", help="One JSON object per event and line, for scripts."
    ),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the latest N events (0: all)."),
) -> None:
    """Print the events of STREAM: version, type, time recorded, who sent the command
    (roles, subject, Idempotency-Key) and payload."""
    cli = cli_context(ctx)
    settings = cli.settings()
    require_home(settings)
    codecs = codecs_by_category(cli.services())
    with open_store(settings) as store:
        recorded = store.read(stream)
    if not recorded:
        fail(
            f"stream {stream!r} has no events in {settings.home.resolve()}: check the id "
            "('<category>-<entity id>', e.g. the stream named in a command's response) "
            "and EVENTFOLD_HOME"
        )
    if limit:
        recorded = recorded[-limit:]
    records = [as_record(e, payload_json(e, codecs)) for e in recorded]
    if json_lines:
        for record in records:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    table = Table(title=stream, title_justify="left")
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("recorded at (UTC)", no_wrap=True)
    table.add_column("by", overflow="fold")
    table.add_column("payload", overflow="fold")
    for event, record in zip(recorded, records, strict=True):
        table.add_row(
            Text(str(event.version)),
            Text(event.type),
            Text(event.recorded_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")),
            Text(actor_of(event)),
            Text(json.dumps(record["payload"], ensure_ascii=False)),
        )
    Console().print(table)
