"""A seconds-long run of bench/bench_pipeline.py (``--smoke``: tiny sizes, one run, scenarios a, b, c) in its
own process, as ``make bench`` runs it: every scenario produces sane, non-zero figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_bench_smoke_run_produces_sane_figures(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_pipeline.py"), "--smoke", "--json", str(out)],
                          env=env, capture_output=True, text=True, timeout=110, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    a, b, c = result["a"], result["b"], result["c"]
    assert a["feeds"] == 40 and 0 < a["ours"]["median"]["cpu_ms_per_poll"] < 100
    assert a["ours"]["median"]["polls_per_s"] > a["naive"]["polls_per_s"] > 0
    assert b["ours"]["median"]["entries"] == 6 * 5 and b["ours"]["median"]["errors"] == 0
    assert b["ours"]["median"]["alerts"] >= 30  # every entry matches the watch: one outbox row each
    assert b["ours"]["median"]["entries_per_s"] > 0 and b["naive"]["entries_per_s"] > 0
    assert c["alerts"] >= 2 and 0 < c["p50_ms"] <= c["p99_ms"] < 30_000
    assert "| (a) unchanged cycle" in done.stdout  # the README table rows
