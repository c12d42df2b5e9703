"""bench/write_path.py end to end, tiny: every contender and workload, and the HTTP figure
through `eventfold run` with a minted token (the bench once met a 401 there)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "write_path.py"


@pytest.mark.slow
def test_a_tiny_run_reports_every_workload_and_the_http_figure(tmp_path: Path) -> None:
    out = tmp_path / "write_path.json"
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--rounds", "1", "--commands", "40", "--http-seconds", "1"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-3000:]
    report = json.loads(out.read_text())
    assert set(report["ratios"]) == {"1w_10s", "4w_10s", "1w_200s"}
    assert all(r["vs_floor"] > 0 for r in report["ratios"].values())
    (http,) = [f for f in report["figures"] if "HTTP" in f["name"]]
    assert http["commands"] > 0
    assert http["p99_ms"] >= http["p50_ms"] > 0
