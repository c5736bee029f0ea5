"""The baselines of bench_pipeline.py, measured on the same farm in the same run: a naive sequential
``feedparser.parse(url)`` loop (what a user writes by hand) and rss2email 3 (a real peer; ``pip install
rss2email``, the ``bench`` extra), which keeps ETags and seen entries between runs like we do.

Each returns (work done, wall seconds, CPU seconds): polls for an unchanged cycle, entries for an ingest.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import feedparser


def naive_loop(urls: list[str]) -> tuple[int, int, float, float]:
    """``for url in urls: feedparser.parse(url)``: (polls, entries parsed, wall s, CPU s)."""
    entries, cpu0, start = 0, time.process_time(), time.perf_counter()
    for url in urls:
        try:
            entries += len(feedparser.parse(url).entries)
        except Exception:  # noqa: BLE001, S112 (a reset surfaces as a raw OSError; the naive loop goes on)
            continue
    return len(urls), entries, time.perf_counter() - start, time.process_time() - cpu0


def r2e_available() -> bool:
    return shutil.which("r2e", path=str(Path(sys.executable).parent)) is not None


class Rss2email:
    """rss2email over ``urls`` in a throwaway folder; ``run()`` is one ``r2e run --no-send`` (a cycle)."""

    def __init__(self, urls: list[str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-r2e-"))
        self.config, self.data = self.folder / "r2e.cfg", self.folder / "r2e.json"
        feeds = "".join(f"\n[feed.f{i}]\nurl = {url}\n" for i, url in enumerate(urls))
        self.config.write_text(f"[DEFAULT]\nto = bench@example.com\nfrom = bench@example.com\n{feeds}")
        self.binary = str(Path(sys.executable).parent / "r2e")

    def run(self) -> tuple[float, float]:
        """One cycle: (wall s, CPU s of the r2e process)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([self.binary, "-c", str(self.config), "-d", str(self.data), "run", "--no-send"],  # noqa: S603
                       check=False, capture_output=True, timeout=3600)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
