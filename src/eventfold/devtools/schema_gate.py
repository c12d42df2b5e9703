"""The breaking-change gate of a published language.

The ``.proto`` files under a proto root are compiled (grpcio-tools, no system ``protoc``)
and summarised per message field: number, name, type, cardinality, oneof. The summary is
compared with the committed baseline (``<root>/baseline/descriptors.json``): a removed
message, enum value or field, a reused number, a changed name, type, cardinality or oneof
is a break, reported naming the field. Additions are never breaks. An intentional break is
recorded with :func:`write_baseline` (``eventfold schema update-baseline``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.descriptor_pb2 import (
    DescriptorProto,
    EnumDescriptorProto,
    FieldDescriptorProto,
    FileDescriptorSet,
)

from eventfold.errors import ConfigurationError

BASELINE = Path("baseline") / "descriptors.json"
SKIP_DIRS = {"baseline"}
Summary = dict[str, Any]


@dataclass(frozen=True, slots=True)
class GateReport:
    """What :func:`check` found: ``breaks`` fail the gate, ``additions`` are notes."""

    root: Path
    breaks: tuple[str, ...]
    additions: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.breaks


def baseline_path(root: Path) -> Path:
    return root / BASELINE


def proto_files(root: Path) -> list[Path]:
    """Every ``.proto`` file under ``root`` except the baselines."""
    return sorted(
        p for p in root.rglob("*.proto") if not SKIP_DIRS.intersection(p.relative_to(root).parts)
    )


def compile_protos(root: Path) -> FileDescriptorSet:
    """Compile every ``.proto`` under ``root`` (imports resolved from ``root`` and the
    well-known types shipped with grpcio-tools)."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ModuleNotFoundError:
        raise ConfigurationError(
            "the schema gate needs grpcio-tools: pip install 'eventfold[dev]'"
        ) from None
    files = proto_files(root)
    if not files:
        raise ConfigurationError(f"no .proto files under {root}: pass the proto root folder")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "descriptors.pb"
        args = [
            "protoc",
            f"--proto_path={root}",
            f"--proto_path={well_known}",
            f"--descriptor_set_out={out}",
            *(str(f.relative_to(root)) for f in files),
        ]
        if protoc.main(args) != 0:
            raise ConfigurationError(f"protoc could not compile {root} (its messages are above)")
        return FileDescriptorSet.FromString(out.read_bytes())


def summarize(descriptors: FileDescriptorSet) -> Summary:
    """The facts the gate compares, as JSON-ready data keyed by full names and numbers."""
    messages: dict[str, Any] = {}
    enums: dict[str, Any] = {}
    for file in descriptors.file:
        prefix = f"{file.package}." if file.package else ""
        for message in file.message_type:
            _summarize_message(prefix + message.name, message, messages, enums)
        for enum in file.enum_type:
            enums[prefix + enum.name] = _summarize_enum(enum)
    return {"messages": messages, "enums": enums}


def _summarize_message(
    name: str, message: DescriptorProto, messages: dict[str, Any], enums: dict[str, Any]
) -> None:
    fields = {str(f.number): _summarize_field(f, message) for f in message.field}
    messages[name] = {
        "fields": fields,
        "reserved_numbers": [[r.start, r.end - 1] for r in message.reserved_range],
        "reserved_names": sorted(message.reserved_name),
    }
    for nested in message.nested_type:
        _summarize_message(f"{name}.{nested.name}", nested, messages, enums)
    for enum in message.enum_type:
        enums[f"{name}.{enum.name}"] = _summarize_enum(enum)


def _summarize_field(field: FieldDescriptorProto, message: DescriptorProto) -> dict[str, Any]:
    if field.label == FieldDescriptorProto.LABEL_REPEATED:
        cardinality = "repeated"
    elif field.proto3_optional:
        cardinality = "optional"
    elif field.label == FieldDescriptorProto.LABEL_REQUIRED:
        cardinality = "required"
    else:
        cardinality = "singular"
    in_oneof = field.HasField("oneof_index") and not field.proto3_optional
    kind = FieldDescriptorProto.Type.Name(field.type).removeprefix("TYPE_").lower()
    return {
        "name": field.name,
        "type": field.type_name.lstrip(".") if field.type_name else kind,
        "cardinality": cardinality,
        "oneof": message.oneof_decl[field.oneof_index].name if in_oneof else None,
    }


def _summarize_enum(enum: EnumDescriptorProto) -> dict[str, Any]:
    return {"values": {str(v.number): v.name for v in enum.value}}


def compare(baseline: Summary, current: Summary) -> tuple[list[str], list[str]]:
    """(breaks, additions) between two summaries; each line names what changed."""
    breaks: list[str] = []
    additions: list[str] = []
    old_messages, new_messages = baseline["messages"], current["messages"]
    for name, old in old_messages.items():
        new = new_messages.get(name)
        if new is None:
            breaks.append(
                f"message {name} was removed: events stored with it can no longer be read"
            )
            continue
        breaks += _field_breaks(name, old, new)
        for number, field in new["fields"].items():
            if number in old["fields"]:
                continue
            reused_number = _is_reserved(old, int(number))
            if reused_number or field["name"] in old["reserved_names"]:
                breaks.append(
                    f"field {name}.{field['name']} (number {number}) reuses a reserved "
                    f"{'number' if reused_number else 'name'}: pick a new number and name"
                )
            else:
                additions.append(f"field {name}.{field['name']} (number {number}) added")
    additions += [f"message {n} added" for n in new_messages if n not in old_messages]
    for name, old in baseline["enums"].items():
        new = current["enums"].get(name)
        if new is None:
            breaks.append(f"enum {name} was removed")
            continue
        for number, value in old["values"].items():
            now = new["values"].get(number)
            if now != value:
                breaks.append(
                    f"enum value {name}.{value} (number {number}) was "
                    + (f"renamed to {now}" if now else "removed")
                )
    return breaks, additions


def _field_breaks(message: str, old: Summary, new: Summary) -> Iterable[str]:
    for number, was in old["fields"].items():
        label = f"field {message}.{was['name']} (number {number})"
        now = new["fields"].get(number)
        if now is None:
            fix = "" if _is_reserved(new, int(number)) else " without reserving its number"
            yield f"{label} was removed{fix}: keep it and mark it [deprecated = true]"
            continue
        if now["name"] != was["name"]:
            yield f"{label} was renamed to {now['name']}: JSON consumers would break"
        if now["type"] != was["type"]:
            yield f"{label} changed type from {was['type']} to {now['type']}"
        if now["cardinality"] != was["cardinality"]:
            yield f"{label} changed cardinality from {was['cardinality']} to {now['cardinality']}"
        if now["oneof"] != was["oneof"]:
            yield f"{label} moved from oneof {was['oneof']} to oneof {now['oneof']}"


def _is_reserved(message: Summary, number: int) -> bool:
    return any(start <= number <= end for start, end in message["reserved_numbers"])


def check(root: Path, baseline: Path | None = None) -> GateReport:
    """Compare the ``.proto`` files under ``root`` with their committed baseline."""
    path = baseline or baseline_path(root)
    if not path.is_file():
        raise ConfigurationError(
            f"no schema baseline at {path}: record one with "
            f"`eventfold schema update-baseline {root}` and commit it"
        )
    try:
        recorded = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigurationError(f"schema baseline {path} is not JSON ({exc})") from exc
    breaks, additions = compare(recorded, summarize(compile_protos(root)))
    return GateReport(root, tuple(breaks), tuple(additions))


def write_baseline(root: Path, baseline: Path | None = None) -> Path:
    """Record the current ``.proto`` files as the baseline (an intentional, reviewed step)."""
    path = baseline or baseline_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = summarize(compile_protos(root))
    path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path
