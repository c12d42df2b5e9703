"""The Lambda artifact ``deploy/aws/template.yaml`` deploys: one zip holding eventfold, the
installed services and their dependencies, built for the functions' architecture.

``eventfold aws package`` runs :func:`build_package`:

1. ``pip wheel --no-deps`` builds the project's wheel (the services register themselves
   through its entry points, so the wheel's metadata goes into the zip too);
2. ``pip install --platform manylinux2014_<arch> --only-binary=:all: --python-version 3.11
   --implementation cp --target <dir> --no-compile`` installs it with its extras'
   dependencies as Lambda's Amazon Linux needs them, whatever machine builds: only wheels
   for that platform (no source builds, so no compiler for the wrong CPU);
3. :func:`write_reproducible_zip` zips the directory: entries sorted, every timestamp
   1980-01-01, fixed permissions, no ``__pycache__`` and no pip ``direct_url.json`` (it
   names the temporary build folder; its line in the wheel's ``RECORD`` goes too). The
   same sources and the same resolved versions give the same bytes, so ``sam deploy``
   sees no change and uploads nothing.

Pin the dependencies (``--constraint``) for builds that must also resolve the same versions.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Architecture = Literal["arm64", "x86_64"]
PLATFORMS: dict[str, str] = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
PYTHON_VERSION = "3.11"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
"""The earliest time a zip entry can carry."""
LEFT_OUT_DIRS = frozenset({"__pycache__"})
LEFT_OUT_FILES = frozenset({"direct_url.json"})
RunCommand = Callable[[Sequence[str]], None]
"""Runs one command line (raises when it fails)."""


@dataclass(frozen=True)
class PackageRequest:
    """What to build: the project at ``source`` with ``extras``, for ``architecture``."""

    source: Path
    output: Path
    architecture: Architecture = "arm64"
    extras: tuple[str, ...] = ("lambda", "mysql", "protobuf")
    constraints: Path | None = None


def services_project(request: PackageRequest) -> Path | None:
    """The reference services' own project beside the toolkit (``examples/``), if any."""
    examples = request.source / "examples"
    return examples if (examples / "pyproject.toml").is_file() else None


def wheel_command(request: PackageRequest, wheel_dir: Path) -> list[str]:
    """pip building the project's own wheel, and the services' (``examples/``) when the
    source holds them (pure Python: any platform builds them)."""
    services = services_project(request)
    return [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--quiet",
        "--wheel-dir",
        str(wheel_dir),
        str(request.source),
        *([str(services)] if services is not None else []),
    ]


def install_command(
    request: PackageRequest, wheel: Path, target: Path, services: Path | None = None
) -> list[str]:
    """pip installing the wheel and its dependencies for Lambda's platform into ``target``."""
    extras = f"[{','.join(request.extras)}]" if request.extras else ""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--platform",
        PLATFORMS[request.architecture],
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--target",
        str(target),
    ]
    if request.constraints is not None:
        command += ["--constraint", str(request.constraints)]
    wanted = [f"eventfold{extras} @ {wheel.resolve().as_uri()}"]
    if services is not None:
        wanted.append(f"eventfold-examples @ {services.resolve().as_uri()}")
    return [*command, *wanted]


def build_package(request: PackageRequest, *, run: RunCommand | None = None) -> Path:
    """Build the artifact; returns its path. A failed pip run raises CalledProcessError."""
    runner = run or _run
    with tempfile.TemporaryDirectory(prefix="eventfold-package-") as scratch:
        wheels, target = Path(scratch) / "wheels", Path(scratch) / "target"
        runner(wheel_command(request, wheels))
        (wheel,) = sorted(wheels.glob("eventfold-*.whl"))
        services = sorted(wheels.glob("eventfold_examples-*.whl"))
        runner(install_command(request, wheel, target, services[0] if services else None))
        write_reproducible_zip(target, request.output)
    return request.output


def _run(command: Sequence[str]) -> None:
    subprocess.run(list(command), check=True)


def write_reproducible_zip(source: Path, output: Path) -> None:
    """Zip the files under ``source`` into ``output``: the same files give the same bytes,
    whenever and in whatever order they were written."""
    files = sorted(
        (
            path
            for path in source.rglob("*")
            if path.is_file() and not _left_out(path.relative_to(source).as_posix())
        ),
        key=lambda path: path.relative_to(source).as_posix(),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w") as archive:
        for path in files:
            entry = zipfile.ZipInfo(path.relative_to(source).as_posix(), FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            entry.external_attr = (0o100000 | mode) << 16  # a regular file
            entry.create_system = 3  # Unix, so the mode counts
            archive.writestr(entry, _contents(path), compresslevel=9)


def _left_out(relative: str) -> bool:
    parts = relative.split("/")
    return parts[-1] in LEFT_OUT_FILES or bool(LEFT_OUT_DIRS & set(parts))


def _contents(path: Path) -> bytes:
    """The file's bytes; a wheel's RECORD without the lines of the files left out (pip's
    ``direct_url.json`` has a hash per build folder)."""
    data = path.read_bytes()
    if path.name != "RECORD" or not path.parent.name.endswith(".dist-info"):
        return data
    lines = data.decode().splitlines(keepends=True)
    return "".join(line for line in lines if not _left_out(line.split(",", 1)[0])).encode()
