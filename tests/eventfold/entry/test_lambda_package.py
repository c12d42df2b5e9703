"""The Lambda artifact: reproducible zips, pip asked for Lambda's platform, and the CLI's
one-line refusals. (A full build downloads every dependency's wheel: not in the suite.)"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventfold.entry.cli.main import app as cli
from eventfold.entry.lambda_package import (
    FIXED_TIME,
    PackageRequest,
    install_command,
    wheel_command,
    write_reproducible_zip,
)

FILES = {
    "eventfold/__init__.py": b"VERSION = 1\n",
    "eventfold/entry/aws_lambda/functions.py": b"def http(): ...\n",
    "eventfold-0.1.0.dist-info/entry_points.txt": b"[eventfold.services]\n",
    "bin/tool": b"#!/bin/sh\n",
    "eventfold-0.1.0.dist-info/RECORD": b"eventfold/__init__.py,sha256=abc,12\n",
}


def tree(root: Path, order: list[str], mtime: int) -> Path:
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(FILES[name])
        os.utime(path, (mtime, mtime))
    (root / "bin/tool").chmod(0o755)
    return root


def test_the_same_files_give_the_same_bytes(tmp_path: Path) -> None:
    names = list(FILES)
    first = tree(tmp_path / "a", names, 1_700_000_000)
    second = tree(tmp_path / "b", names[::-1], 1_800_000_000)  # other order, other times
    (second / "eventfold/__pycache__").mkdir()
    (second / "eventfold/__pycache__/__init__.cpython-311.pyc").write_bytes(b"\x00compiled")
    for root, folder in ((first, "/tmp/a"), (second, "/tmp/b")):  # pip's, per build folder
        url = f'{{"url": "file://{folder}"}}'
        (root / "eventfold-0.1.0.dist-info/direct_url.json").write_text(url)
        with (root / "eventfold-0.1.0.dist-info/RECORD").open("a") as lines:
            lines.write(f"eventfold-0.1.0.dist-info/direct_url.json,sha256={folder},{len(url)}\n")

    write_reproducible_zip(first, tmp_path / "a.zip")
    write_reproducible_zip(second, tmp_path / "b.zip")

    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        entries = archive.infolist()
        assert [e.filename for e in entries] == sorted(FILES)
        assert {e.date_time for e in entries} == {FIXED_TIME}
        modes = {e.filename: (e.external_attr >> 16) & 0o777 for e in entries}
        assert modes["bin/tool"] == 0o755
        assert modes["eventfold/__init__.py"] == 0o644
        assert archive.read("eventfold/__init__.py") == FILES["eventfold/__init__.py"]
        record = "eventfold-0.1.0.dist-info/RECORD"
        assert archive.read(record) == FILES[record]


@pytest.mark.parametrize(
    ("architecture", "platform"),
    [("arm64", "manylinux2014_aarch64"), ("x86_64", "manylinux2014_x86_64")],
)
def test_pip_installs_wheels_for_lambdas_platform(
    tmp_path: Path, architecture: str, platform: str
) -> None:
    request = PackageRequest(tmp_path, tmp_path / "out.zip", architecture)  # type: ignore[arg-type]
    command = install_command(request, tmp_path / "eventfold-0.1.0-py3-none-any.whl", tmp_path)
    joined = " ".join(command)
    assert f"--platform {platform}" in joined
    assert "--only-binary=:all:" in command
    assert "--python-version 3.11" in joined
    assert "--no-compile" in command  # .pyc files carry build times
    assert command[-1].startswith("eventfold[lambda,mysql,protobuf] @ file://")


def test_the_reference_services_are_built_and_installed_beside_the_toolkit(
    tmp_path: Path,
) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    request = PackageRequest(tmp_path, tmp_path / "out.zip")
    assert wheel_command(request, tmp_path / "w")[-2:] == [
        str(tmp_path),
        str(tmp_path / "examples"),
    ]
    services = tmp_path / "eventfold_examples-0.1.0-py3-none-any.whl"
    command = install_command(
        request, tmp_path / "eventfold-0.1.0-py3-none-any.whl", tmp_path, services
    )
    assert command[-1].startswith("eventfold-examples @ file://")


def test_the_cli_refuses_a_folder_without_a_project(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["aws", "package", "--source", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "has no pyproject.toml: pass --source" in result.output
