"""Compile test ``.proto`` files into a private descriptor pool (never the default one, so
several versions of the same package can live in one test session)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from google.protobuf.message import Message

from eventfold.devtools.schema_gate import compile_protos

FIXTURES = Path(__file__).parents[3] / "fixtures" / "protobuf"


def load_messages(root: Path) -> dict[str, type[Message]]:
    """Every message of the ``.proto`` files under ``root``, by full name."""
    pool = descriptor_pool.DescriptorPool()
    timestamp = FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp)
    pool.Add(timestamp)
    descriptors = compile_protos(root)
    for file in descriptors.file:
        pool.Add(file)
    names = [f.name for f in descriptors.file]
    return dict(message_factory.GetMessageClassesForFiles(names, pool))
