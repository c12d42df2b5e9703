"""Generates the Python modules of the reference services' published-language ``.proto``
files.

Hatchling runs :class:`ProtobufBuildHook` on every build of the examples project
(``pip install -e examples``, wheels, sdists): each ``<service>/proto`` folder beside this
file is compiled with grpcio-tools (from PyPI, listed in ``[build-system] requires``; no
system ``protoc``) into ``*_pb2.py`` / ``*_pb2.pyi`` beside the ``.proto`` files. The
generated files are never committed (``.gitignore``); a wheel includes them as build
artifacts. ``python examples/hatch_build.py`` (``make proto``) runs the same generation in a
development checkout. The eventfold toolkit itself has no build hook.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
PROTO_ROOTS = "*/proto"
SKIP_DIRS = {"baseline"}

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ModuleNotFoundError:  # `python examples/hatch_build.py` in a venv without hatchling
    BuildHookInterface = object  # type: ignore[assignment,misc]


def proto_files(root: Path) -> list[Path]:
    """Every ``.proto`` under ``root`` except the committed baselines (the same selection
    as ``eventfold.devtools.schema_gate.proto_files``, copied: a build hook cannot
    import the package it builds)."""
    return sorted(
        path
        for path in root.rglob("*.proto")
        if not SKIP_DIRS.intersection(path.relative_to(root).parts)
    )


def generate(project: Path = ROOT) -> list[Path]:
    """Compile every proto root of ``project``; returns the generated files."""
    import grpc_tools  # a build requirement: imported only when building
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    generated: list[Path] = []
    for root in sorted(project.glob(PROTO_ROOTS)):
        files = proto_files(root)
        if not files:
            continue
        args = [
            "grpc_tools.protoc",
            f"--proto_path={root}",
            f"--proto_path={well_known}",
            f"--python_out={root}",
            f"--pyi_out={root}",
            *(str(f.relative_to(root)) for f in files),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {root} (see the messages above)")
        for f in files:
            stem = f.with_suffix("")
            generated += [stem.with_name(f"{stem.name}_pb2{suffix}") for suffix in (".py", ".pyi")]
    return generated


class ProtobufBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type]
    """Generates before every build; the generated files ship in wheels as artifacts
    (they are VCS-ignored, which would otherwise leave them out)."""

    PLUGIN_NAME = "protobuf"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        project = Path(self.root)
        for path in generate(project):
            build_data["artifacts"].append(path.relative_to(project).as_posix())


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT), file=sys.stderr)
