"""Issue 8 (d) and (e): the real daemon (``news-monitor run`` in a subprocess, READY read from a NOTIFY_SOCKET it
is given) on a SQLite database with 10k sources and 1M stories in the 72 h dedup window: seconds from the process's
start to READY=1, its RSS (VmRSS, and the peak VmHWM) at READY and once the dedup index is rebuilt (the daemon logs
"dedup index loaded"); median of ``--runs`` runs. The sources are stored as polled, due in a week, so the daemon is
idle and the figures are its baseline. Also: RSS and seconds of the imports and of the gazetteer alone.

  .venv/bin/python bench/bench_memory.py                          (1M stories, 10k sources, 5 runs: ~5 min)
  .venv/bin/python bench/bench_memory.py --stories 20000 --sources 500 --runs 2    (smoke run)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "memory.json"
TARGET_RSS_MB, TARGET_READY_S = 300.0, 3.0
STALE = timedelta(hours=6)  # stories older than the window fall out of it as time passes: rebuild then


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, MB."""
    with open(f"/proc/{pid}/status") as f:
        rows = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    return {key: int(value.split()[0]) / 1024 for key, value in rows.items()}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (a figure the machine's load does not inflate)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def build_db(path: Path, stories: int, sources: int) -> None:
    """``cluster_startup.build`` with its stories spread over the 72 h before now, plus ``sources`` sources stored
    as just polled and due in a week (the config lists the same names and URLs)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import cluster_startup

    now = datetime.now(UTC).replace(microsecond=0)
    cluster_startup.NOW = now  # seen_at() spreads the stories over the window before it
    path.unlink(missing_ok=True)
    cluster_startup.build(str(path), stories)
    naive = now.replace(tzinfo=None)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM sources WHERE id > 1")
    db.execute("UPDATE sources SET name = ?, url = ?, config_url = ? WHERE id = 1", ("s0", url(0), url(0)))
    db.executemany("INSERT INTO sources (id, name, url, config_url, error_count, health, gap_count, missed_posts)"
                   " VALUES (?, ?, ?, ?, 0, 'ok', 0, 0)", [(i + 1, f"s{i}", url(i), url(i)) for i in range(1, sources)])
    db.execute("UPDATE sources SET last_polled_at = ?, last_success_at = ?, next_poll_at = ?",
               (str(naive), str(naive), str(naive + timedelta(days=7))))
    db.execute("CREATE TABLE IF NOT EXISTS bench_meta (stories INTEGER, sources INTEGER, built_at TEXT)")
    db.execute("INSERT INTO bench_meta VALUES (?, ?, ?)", (stories, sources, now.isoformat()))
    db.commit()
    db.close()


def url(i: int) -> str:
    return f"http://127.0.0.1:9/feed/{i}"


def db_fresh(path: Path, stories: int, sources: int) -> bool:
    if not path.is_file():
        return False
    try:
        with sqlite3.connect(path) as db:
            n, m, built = db.execute("SELECT stories, sources, built_at FROM bench_meta").fetchone()
    except sqlite3.Error:
        return False
    return (n, m) == (stories, sources) and datetime.now(UTC) - datetime.fromisoformat(built) < STALE


def write_config(dir_: Path, db: Path, sources: int) -> Path:
    lines = [f"database: sqlite:///{db}", "settings: {interval: 7d}", "sources:"]
    lines += [f'  - {{name: s{i}, url: "{url(i)}"}}' for i in range(sources)]
    lines += ['channels: {desk: "json://127.0.0.1:9/desk"}',  # a channel: Apprise then loads its plugins
              "watches:", "  - {name: w, any: [counteroffensive], notify: [desk]}", ""]
    config = dir_ / "watchlist.yaml"
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def one_run(config: Path, timeout: float = 300.0) -> dict[str, float]:
    """Start the daemon, time READY=1, sample its memory then and after the index rebuild, stop it."""
    sock_path = config.parent / "notify.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    env = {k: v for k, v in os.environ.items() if k != "NEWS_MONITOR_DATABASE_URL"}
    env.update(NOTIFY_SOCKET=str(sock_path), PYTHONPATH=str(ROOT))
    log = (config.parent / "daemon.log").open("w+b")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"], env=env,  # noqa: S603
                            cwd=config.parent, stdout=log, stderr=subprocess.STDOUT)
    try:
        sock.settimeout(timeout)
        while b"READY=1" not in sock.recv(4096):
            pass
        ready_s = time.perf_counter() - t0
        at_ready, ready_cpu_s = proc_status(proc.pid), cpu_s(proc.pid)
        deadline = time.monotonic() + timeout
        while b"dedup index loaded" not in Path(log.name).read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon ended or hung:\n{Path(log.name).read_text()[-3000:]}")
            sock.settimeout(0.05)
            with contextlib.suppress(TimeoutError):
                sock.recv(4096)  # keep the socket drained (watchdog, status)
        loaded_s, loaded_cpu_s = time.perf_counter() - t0, cpu_s(proc.pid)
        time.sleep(1.0)  # settle
        loaded = proc_status(proc.pid)
        return {"ready_s": ready_s, "ready_cpu_s": ready_cpu_s, "rss_ready_mb": at_ready["VmRSS"],
                "index_loaded_s": loaded_s, "index_loaded_cpu_s": loaded_cpu_s, "rss_loaded_mb": loaded["VmRSS"],
                "peak_rss_mb": loaded["VmHWM"]}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sock.close()
        log.close()


PARTS = """
import time, sys
def rss():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024
out = {'python_mb': rss()}
t = time.perf_counter()
import monitor.daemon, monitor.cli
out['imports_s'], out['imports_mb'] = time.perf_counter() - t, rss()
t, c = time.perf_counter(), time.process_time()
g = monitor.context.load_gazetteer()
out['gazetteer_s'], out['gazetteer_cpu_s'] = time.perf_counter() - t, time.process_time() - c
out['gazetteer_mb'] = rss() - out['imports_mb']
t, c, before = time.perf_counter(), time.process_time(), rss()
monitor.daemon.load_config(__import__('pathlib').Path(sys.argv[1]), g)
out['config_s'], out['config_cpu_s'] = time.perf_counter() - t, time.process_time() - c
out['config_mb'] = rss() - before
monitor.context.release_free_memory()
out['after_trim_mb'] = rss()
print(__import__('json').dumps(out))
"""


def parts(config: Path) -> dict[str, float]:
    """Where the baseline goes, in a fresh interpreter: imports, the gazetteer, the watchlist (MB: RSS growth)."""
    done = subprocess.run([sys.executable, "-c", PARTS, str(config)], capture_output=True, text=True, check=True,  # noqa: S603
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stories", type=int, default=1_000_000)
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None, help="database file (default: in the temp dir, reused)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    db = args.db or Path(tempfile.gettempdir()) / f"news-monitor-memory-{args.stories}-{args.sources}.db"
    if not db_fresh(db, args.stories, args.sources):
        t = time.perf_counter()
        build_db(db, args.stories, args.sources)
        print(f"built {db} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), db, args.sources)
        for i in range(args.runs):
            runs.append(one_run(config))
            print(f"run {i + 1}: {json.dumps({k: round(v, 2) for k, v in runs[-1].items()})}", file=sys.stderr)
        breakdown = parts(config)
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    result = {
        "stories": args.stories, "sources": args.sources, "runs": args.runs, "db_mb": db.stat().st_size / 2**20,
        "median": median, "all": runs, "parts": breakdown,
        "targets": {"rss_mb": TARGET_RSS_MB, "ready_s": TARGET_READY_S,
                    "rss_met": median["rss_loaded_mb"] <= TARGET_RSS_MB and median["peak_rss_mb"] <= TARGET_RSS_MB,
                    "ready_met": median["ready_s"] <= TARGET_READY_S},
        "machine": {"nproc": os.cpu_count(), "loadavg": os.getloadavg(), "python": platform.python_version(),
                    "at": datetime.now(UTC).isoformat(timespec="seconds")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"median": median, "parts": result["parts"], "targets": result["targets"]}, indent=2))


if __name__ == "__main__":
    main()
