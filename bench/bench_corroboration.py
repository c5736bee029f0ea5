"""Corroboration cost: ``corroboration.group`` over clusters of 20, 100 and 500 members (real signatures of real
feed texts when ../shared/corpora is present, else synthetic texts), half of them copies of one wire text.

Run: .venv/bin/python bench/bench_corroboration.py
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from monitor import corroboration, dedupe

WORDS = ["front", "line", "village", "forces", "troops", "shelling", "artillery", "drone", "region", "city", "river",
         "bridge", "road", "power", "station", "officials", "said", "residents", "evacuated", "morning", "night",
         "strike", "attack", "defence", "ministry", "general", "staff", "report", "advance", "retreat", "position",
         "control", "hundred", "kilometres", "north", "south", "east", "west"]


def text(rng: random.Random, n: int = 120) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def members(size: int, rng: random.Random) -> list[corroboration.Member]:
    wire = text(rng)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(size):
        body = wire + " Subscribe now." if i % 2 == 0 else text(rng)
        sig = dedupe.signature("t", body).to_bytes()
        out.append(corroboration.Member(i, f"s{i}", f"guid:{i}", t0 + timedelta(seconds=i), sig))
    return out


def main() -> None:
    rng = random.Random(1)
    for size in (20, 100, 500):
        group = members(size, rng)
        runs = 5
        start = time.perf_counter()
        for _ in range(runs):
            found = corroboration.group(group)
        ms = (time.perf_counter() - start) / runs * 1000
        print(f"members={size:4d} independent={found.count:4d} group() {ms:8.2f} ms")


if __name__ == "__main__":
    main()
