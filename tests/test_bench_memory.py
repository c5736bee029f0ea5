"""A seconds-long run of bench/bench_memory.py (the real daemon in a subprocess, READY read from its notify socket,
its memory from /proc) on a tiny database: the harness works and its figures are sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_memory_bench_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_memory.py"), "--stories", "2000", "--sources",
                           "50", "--runs", "1", "--db", str(tmp_path / "m.db"), "--out", str(out)],
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    median = result["median"]
    assert 0 < median["ready_s"] <= median["index_loaded_s"] < 120
    assert 0 < median["ready_cpu_s"] <= median["index_loaded_cpu_s"]
    assert 40 < median["rss_ready_mb"] <= median["peak_rss_mb"] < 1000
    assert (result["stories"], result["sources"], result["runs"]) == (2000, 50, 1)
    assert result["parts"]["imports_mb"] > result["parts"]["python_mb"] > 0
